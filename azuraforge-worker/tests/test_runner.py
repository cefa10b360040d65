"""run_experiment in this process, against a real Redis and a real SQLite database."""

import gc
import importlib
import json
import os
import threading

import pytest
from celery.signals import worker_process_init, worker_ready
from conftest import artifact, events, load, queue, wait_for

from azuraforge_common import names, store
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import EpochEndEvent, StatusEvent, TrainBeginEvent
from azuraforge_learner.record import RunResult
from azuraforge_worker import runner


def statuses(published):
    return [(event.status, event.final) for event in published if isinstance(event, StatusEvent)]


def test_a_queued_experiment_runs_to_success(services):
    experiment_id = queue(services, {"epochs": 2})
    assert runner.run_experiment(services, experiment_id) == "succeeded"

    done = load(services, experiment_id)
    assert done.status == "succeeded"
    assert done.created_at <= done.started_at <= done.finished_at
    assert set(done.metrics) == {"mae", "rmse", "mape", "r2"}
    assert set(done.baseline_metrics) == set(done.metrics)
    assert len(done.history["loss"]) == 2
    assert {"report.md", "images/loss.png", "model.npz", "metrics.json"} <= set(done.artifacts)
    assert artifact(services, experiment_id, "report.md").startswith(b"# ")
    assert done.progress == {"epoch": 2, "total_epochs": 2}
    assert (done.error, done.traceback) == (None, None)
    result = RunResult.model_validate(done.result)
    assert (result.status, result.stop_reason.kind, result.metrics) == ("succeeded", "completed", done.metrics)
    assert {entry.metric for entry in result.verdict} == set(done.metrics)
    assert result.baselines, "every baseline is stored, not only the strongest one's scores"
    assert result.provenance.data is not None
    assert result.provenance.data.rows > 0

    published = events(services, experiment_id)
    assert [event.seq for event in published] == list(range(1, len(published) + 1))
    assert statuses(published) == [("running", False), ("succeeded", True)]
    assert published[-1].result == done.result, "the final event carries the stored record"
    assert isinstance(published[1], TrainBeginEvent)
    assert [event.epoch for event in published if isinstance(event, EpochEndEvent)] == [1, 2]
    assert not services.redis.exists(names.heartbeat_key(experiment_id)), "the heartbeat ends with the run"


def test_heartbeat_is_alive_while_training(services):
    experiment_id = queue(services, {"epochs": 3, "epoch_sleep_s": 0.5})
    thread = threading.Thread(target=runner.run_experiment, args=(services, experiment_id))
    thread.start()
    owner = wait_for(lambda: services.redis.get(names.heartbeat_key(experiment_id)), 30, "a heartbeat")
    assert owner.decode().endswith(f":{os.getpid()}")
    assert 0 < services.redis.pttl(names.heartbeat_key(experiment_id)) <= 3000
    thread.join()
    assert not services.redis.exists(names.heartbeat_key(experiment_id))


def test_training_runs_in_a_thread_nicer_than_the_worker_by_the_setting(services):
    services.settings.training_nice = 7
    worker_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    experiment_id = queue(services, {"epochs": 3, "epoch_sleep_s": 0.5})
    thread = threading.Thread(target=runner.run_experiment, args=(services, experiment_id))
    thread.start()
    training = wait_for(
        lambda: next((t for t in threading.enumerate() if t.name == "azuraforge-training"), None), 30, "training"
    )
    assert os.getpriority(os.PRIO_PROCESS, training.native_id) == min(19, worker_nice + 7)
    thread.join()
    assert load(services, experiment_id).status == "succeeded"
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == worker_nice


def test_an_exception_inside_the_app_fails_the_experiment_with_its_traceback(services):
    experiment_id = queue(services, {"epochs": 3, "fail_at_epoch": 2})
    assert runner.run_experiment(services, experiment_id) == "failed"
    failed = load(services, experiment_id)
    assert failed.error == "RuntimeError: sine_test was told to fail at epoch 2"
    assert "Traceback (most recent call last)" in failed.traceback
    assert "on_epoch_begin" in failed.traceback
    assert "report.md" in failed.artifacts, "the learner's failure report is kept"
    assert statuses(events(services, experiment_id))[-1] == ("failed", True)
    assert events(services, experiment_id)[-1].error == failed.error
    result = RunResult.model_validate(failed.result)
    assert (result.status, result.stop_reason.kind) == ("failed", "failed")
    assert "told to fail at epoch 2" in result.stop_reason.message
    assert events(services, experiment_id)[-1].result == failed.result


def test_a_missing_app_fails_the_experiment(services):
    experiment_id = queue(services, {}, app="no_such_app")
    assert runner.run_experiment(services, experiment_id) == "failed"
    failed = load(services, experiment_id)
    assert failed.error.startswith("UnknownAppError")
    assert "no app named 'no_such_app'" in failed.error
    assert "sine_test" in failed.error, "the message lists the installed apps"


def test_an_invalid_stored_config_fails_naming_the_field(services):
    experiment_id = queue(services, {"epochs": 0, "windw": 3})
    assert runner.run_experiment(services, experiment_id) == "failed"
    failed = load(services, experiment_id)
    assert failed.error.startswith("ConfigError")
    assert "epochs" in failed.error
    assert "windw: unknown field" in failed.error
    assert failed.result is None, "a config that never validated planned no run"


def test_a_cancel_before_it_starts_means_it_never_runs(services):
    experiment_id = queue(services, {"epochs": 2})
    services.redis.set(names.cancel_key(experiment_id), 1)
    assert runner.run_experiment(services, experiment_id) == "cancelled"
    cancelled = load(services, experiment_id)
    assert cancelled.started_at is None
    assert cancelled.finished_at is not None
    assert services.artifacts.keys(run_key(experiment_id)) == []
    assert statuses(events(services, experiment_id)) == [("cancelled", True)]


def test_a_cancel_mid_run_stops_training_and_keeps_artifacts(services):
    experiment_id = queue(services, {"epochs": 20, "epoch_sleep_s": 0.3})
    thread = threading.Thread(target=runner.run_experiment, args=(services, experiment_id))
    thread.start()
    wait_for(lambda: any(isinstance(e, EpochEndEvent) for e in events(services, experiment_id)), 30, "epoch 1")
    services.redis.set(names.cancel_key(experiment_id), 1)
    thread.join()
    cancelled = load(services, experiment_id)
    assert cancelled.status == "cancelled"
    assert 1 <= len(cancelled.history["loss"]) < 20
    assert "report.md" in cancelled.artifacts
    assert b"the user cancelled" in artifact(services, experiment_id, "report.md")
    assert statuses(events(services, experiment_id))[-1] == ("cancelled", True)
    assert RunResult.model_validate(cancelled.result).stop_reason.kind == "cancelled"


def test_a_worker_shutdown_stops_the_run_and_says_so(services):
    experiment_id = queue(services, {"epochs": 20, "epoch_sleep_s": 0.3})
    runner.shutting_down.set()
    try:
        assert runner.run_experiment(services, experiment_id) == "failed"
    finally:
        runner.shutting_down.clear()
    interrupted = load(services, experiment_id)
    assert interrupted.error == runner.INTERRUPTED
    assert len(interrupted.history.get("loss", [])) < 20
    result = json.loads(artifact(services, experiment_id, "metrics.json"))
    assert result["stop_reason"]["kind"] == "interrupted", "a shutdown is not reported as the user's cancel"
    assert interrupted.result is not None, "the partial run's record is kept"
    assert RunResult.model_validate(interrupted.result).stop_reason.kind == "interrupted"


@pytest.mark.parametrize("status", ["running", "succeeded", "cancelled"])
def test_a_redelivered_task_of_a_started_experiment_does_nothing(services, status):
    experiment_id = queue(services, {"epochs": 1})
    with services.sessions() as session:
        store.transition(session, experiment_id, ["queued"], status)
    assert runner.run_experiment(services, experiment_id) is None
    assert load(services, experiment_id).status == status
    assert events(services, experiment_id) == []


def test_a_deleted_experiment_is_skipped(services):
    experiment_id = queue(services, {"epochs": 1})
    with services.sessions() as session:
        store.delete_experiment(session, experiment_id)
    assert runner.run_experiment(services, experiment_id) is None


def test_a_run_reaped_meanwhile_keeps_the_reapers_verdict(services):
    experiment_id = queue(services, {"epochs": 3, "epoch_sleep_s": 0.3})
    thread = threading.Thread(target=runner.run_experiment, args=(services, experiment_id))
    thread.start()
    wait_for(lambda: load(services, experiment_id).status == "running", 30, "running")
    with services.sessions() as session:
        assert store.transition(session, experiment_id, ["running"], "failed", error="worker lost")
    thread.join()
    assert load(services, experiment_id).error == "worker lost"
    assert not any(event.final for event in events(services, experiment_id) if isinstance(event, StatusEvent)), (
        "only the winner of the final transition announces it"
    )


def test_a_worker_ready_to_train_exempts_its_startup_objects_from_garbage_collection(settings, monkeypatch):
    """Full collections walked every object of the worker (0.1-0.4 s, a few times a run), with training and the
    event publisher stopped. Whichever pool trains, the objects alive when it is ready are out of the collector's
    sight."""
    monkeypatch.setenv("AZURAFORGE_REDIS_URL", settings.redis_url)  # the Celery app reads it on import
    tasks = importlib.import_module("azuraforge_worker.tasks")
    assert any(receiver is tasks.exempt_startup_objects_from_gc for _, receiver in worker_ready.receivers)
    assert gc.get_freeze_count() == 0
    try:
        worker_process_init.send(sender=None)  # what a prefork pool's process gets; the solo pool: worker_ready
        assert gc.get_freeze_count() > 10 * len(gc.get_objects())
    finally:
        gc.unfreeze()  # this test process goes on

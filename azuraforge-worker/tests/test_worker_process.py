"""Real Celery worker processes consuming tasks from a real Redis."""

import hashlib
import json
import signal
import socket
import sqlite3

from conftest import artifact, events, load, queue, wait_for

from azuraforge_common import catalog, names
from azuraforge_common.datasets import dataset_key
from azuraforge_common.events import EpochEndEvent, is_final
from azuraforge_common.migrate import upgrade
from azuraforge_common.models import Dataset
from azuraforge_common.outcome import OUTCOME_FILE
from azuraforge_common.redis_server import RedisServer
from azuraforge_worker.config import create_celery
from azuraforge_worker.datasets import CACHE_FOLDER
from azuraforge_worker.runner import Services
from azuraforge_worker.testing import TEST_APP


def finished(services, experiment_id):
    return load(services, experiment_id).status in {"succeeded", "failed", "cancelled"}


def final_event(services, experiment_id):
    """The run's last event once it is the final one: the worker commits the record, then publishes it."""
    return wait_for(lambda: is_final(e := events(services, experiment_id)[-1]) and e, 10, "the final event")


def test_worker_publishes_its_apps_runs_tasks_and_goes_on_after_a_failure(services, start_worker, send):
    start_worker()
    failing = queue(services, {"epochs": 2, "fail_at_epoch": 1})
    dataset = uploaded_series(services)
    fine = queue(services, {"epochs": 2, "dataset_id": dataset.id})
    send(failing)
    send(fine)
    wait_for(lambda: finished(services, fine), 120, "the second experiment to finish")
    assert load(services, failing).status == "failed"
    assert load(services, fine).status == "succeeded"
    assert final_event(services, fine).status == "succeeded"
    # As it started, the worker published its apps to the catalog the API serves.
    publisher = f"test0@{socket.gethostname()}"

    def published():
        with services.sessions() as session:
            return {app.name: app for app in catalog.published_apps(session) if app.published_by == publisher}

    wait_for(lambda: len(published()) == 4, 120, "the worker's publication")
    apps = published()
    assert set(apps) == {TEST_APP, "weather-forecaster", "stock-predictor", "image-classifier"}
    sine = apps[TEST_APP]
    assert sine.error is None
    assert sine.payload["defaults"]["window"] == 8
    assert sine.payload["config_schema"]["properties"]["epochs"]["minimum"] == 1
    assert "azuraforge-worker" in sine.packages
    # The second trained on the uploaded series, fetched from the artifact store into the worker's cache.
    data = load(services, fine).result["provenance"]["data"]
    assert data["source"]["dataset"] == {"id": dataset.id, "name": "ramp", "sha256": dataset.sha256}
    assert data["rows"] == 90
    cached = services.settings.data_dir / CACHE_FOLDER / dataset.sha256 / "data.csv"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == dataset.sha256


def uploaded_series(services):
    """A CSV dataset as the API keeps one: its row, and its bytes in the artifact store."""
    data = b"step,value\n" + b"".join(f"{step},{(step % 9) / 9:.4f}\n".encode() for step in range(90))
    sha256 = hashlib.sha256(data).hexdigest()
    services.artifacts.write(dataset_key("default", sha256, "csv"), data)
    with services.sessions() as session:
        dataset = Dataset(name="ramp", kind="csv", sha256=sha256, size=len(data), summary={}, created_by="test")
        session.add(dataset)
        session.commit()
        session.refresh(dataset)
        session.expunge(dataset)
    return dataset


def test_sigterm_mid_run_stops_the_worker_soon_and_fails_the_run_with_the_reason(services, start_worker, send):
    worker = start_worker()
    experiment_id = queue(services, {"epochs": 100, "epoch_sleep_s": 0.3})
    send(experiment_id)
    wait_for(lambda: any(isinstance(e, EpochEndEvent) for e in events(services, experiment_id)), 60, "epoch 1")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    interrupted = load(services, experiment_id)
    assert interrupted.status == "failed"
    assert interrupted.error.startswith("interrupted: the worker was stopped")
    assert len(interrupted.history["loss"]) < 100
    assert events(services, experiment_id)[-1].final
    assert json.loads(artifact(services, experiment_id, "metrics.json"))["stop_reason"]["kind"] == "interrupted"
    assert b"interrupted by a shutdown" in artifact(services, experiment_id, "report.md")


def test_a_user_cancel_mid_run_cancels_the_run_with_that_reason(services, start_worker, send):
    start_worker()
    experiment_id = queue(services, {"epochs": 100, "epoch_sleep_s": 0.3})
    send(experiment_id)
    wait_for(lambda: any(isinstance(e, EpochEndEvent) for e in events(services, experiment_id)), 60, "epoch 1")
    services.redis.set(names.cancel_key(experiment_id), 1)  # what the API's cancel does for a running run
    wait_for(lambda: finished(services, experiment_id), 60, "the run to stop")
    cancelled = load(services, experiment_id)
    assert (cancelled.status, cancelled.error) == ("cancelled", None)
    assert len(cancelled.history["loss"]) < 100
    assert json.loads(artifact(services, experiment_id, "metrics.json"))["stop_reason"]["kind"] == "cancelled"
    assert b"the user cancelled" in artifact(services, experiment_id, "report.md")


def test_sigkill_mid_run_lets_the_heartbeat_expire(services, start_worker, send):
    worker = start_worker()
    experiment_id = queue(services, {"epochs": 100, "epoch_sleep_s": 0.3})
    send(experiment_id)
    heartbeat = names.heartbeat_key(experiment_id)
    wait_for(lambda: load(services, experiment_id).status == "running", 60, "the run to start")
    assert services.redis.exists(heartbeat)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    wait_for(lambda: not services.redis.exists(heartbeat), 30, "the heartbeat to expire")
    assert load(services, experiment_id).status == "running", "marking it failed is the API's reaper's job"


def test_a_task_waits_out_a_database_outage(settings, postgres_server, start_worker, send, tmp_path):
    database_url = postgres_server.create_database("outage")
    upgrade(database_url)
    on_postgres = settings.model_copy(update={"database_url": database_url})
    services = Services.from_settings(on_postgres)
    experiment_id = queue(services, {"epochs": 1})
    start_worker(on_postgres)
    postgres_server.stop()
    try:
        send(experiment_id)
        log = tmp_path / "worker-0.log"
        wait_for(lambda: b"Retry in" in log.read_bytes(), 60, "the task to be retried")
    finally:
        postgres_server.start()
    wait_for(lambda: finished(services, experiment_id), 120, "the experiment to run once the database is back")
    assert load(services, experiment_id).status == "succeeded"
    services.redis.close()


def test_a_database_outage_across_the_end_of_a_run_loses_no_result(
    settings, postgres_server, start_worker, send, tmp_path
):
    database_url = postgres_server.create_database("end_outage")
    upgrade(database_url)
    on_postgres = settings.model_copy(update={"database_url": database_url})
    services = Services.from_settings(on_postgres)
    experiment_id = queue(services, {"epochs": 4, "epoch_sleep_s": 0.5})
    start_worker(on_postgres)
    send(experiment_id)
    wait_for(lambda: any(isinstance(e, EpochEndEvent) for e in events(services, experiment_id)), 60, "epoch 1")
    postgres_server.stop()
    try:
        wait_for(lambda: artifact(services, experiment_id, OUTCOME_FILE), 60, "training to end")
        log = tmp_path / "worker-0.log"
        wait_for(lambda: b"could not record the end" in log.read_bytes(), 60, "a retry")
        assert services.redis.exists(names.heartbeat_key(experiment_id)), "still beating: the reaper keeps off"
    finally:
        postgres_server.start()
    wait_for(lambda: finished(services, experiment_id), 120, "the result to be recorded once the database is back")
    done = load(services, experiment_id)
    assert done.status == "succeeded"
    assert len(done.history["loss"]) == 4
    assert done.metrics
    assert "report.md" in done.artifacts
    assert final_event(services, experiment_id).status == "succeeded"
    services.redis.close()


def spooled(path):
    with sqlite3.connect(path) as db:
        return [json.loads(event) for (event,) in db.execute("SELECT event FROM events ORDER BY row")]


def test_events_kept_on_disk_during_a_redis_outage_survive_a_worker_restart(settings, start_worker, tmp_path):
    """Redis stops mid-run, the worker keeps the events on disk and is killed; the restarted worker publishes
    them once Redis is back: every event, once, in order."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    settings = settings.model_copy(update={"redis_url": server.url})
    services = Services.from_settings(settings, "spooler@" + socket.gethostname())
    try:
        experiment_id = queue(services, {"epochs": 200, "epoch_sleep_s": 0.2})
        worker = start_worker(settings, name="spooler")
        celery = create_celery(settings)
        celery.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment_id])
        celery.close()
        epochs_of = lambda: [e.epoch for e in events(services, experiment_id) if isinstance(e, EpochEndEvent)]  # noqa: E731
        wait_for(lambda: len(epochs_of()) >= 3, 120, "three epochs published")
        server.stop()
        wait_for(lambda: services.spool_path.exists() and len(spooled(services.spool_path)) >= 5, 60, "events on disk")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kept = spooled(services.spool_path)
        start_worker(settings, name="spooler")  # while Redis is still away
        server.start()
        wait_for(lambda: not spooled(services.spool_path), 120, "the restarted worker to publish the spool")
        stored = events(services, experiment_id)
    finally:
        services.redis.close()
        server.stop()
    assert [event.seq for event in stored] == list(range(1, len(stored) + 1)), "no gap"
    epochs = [event.epoch for event in stored if isinstance(event, EpochEndEvent)]
    assert epochs == list(range(1, len(epochs) + 1)), "every epoch once, in order"
    assert [(event.type, event.ts) for event in stored[-len(kept) :]] == [(e["type"], e["ts"]) for e in kept]

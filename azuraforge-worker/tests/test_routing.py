"""Work routing: workers serve the queues they are given, interactive runs overtake queued sweep trials, a worker
runs --concurrency runs at once, and the memory guard leaves a run it cannot fit to another worker."""

from dataclasses import replace

import pytest
from conftest import load, queue, wait_for

from azuraforge_common import names
from azuraforge_worker import runner
from azuraforge_worker.memory import NotEnoughMemoryError
from azuraforge_worker.testing import SineTestPipeline


def test_workers_take_only_their_queues_interactive_runs_first_and_as_many_as_their_concurrency(
    services, start_worker, send
):
    trials = [queue(services, {"epochs": 1}) for _ in range(3)]
    interactive = queue(services, {"epochs": 1})
    on_gpu = [queue(services, {"epochs": 3, "epoch_sleep_s": 0.5}, on="gpu") for _ in range(2)]
    for trial in trials:
        send(trial, priority=names.PRIORITY_BATCH)
    send(interactive)  # sent last, taken first
    for run in on_gpu:
        send(run, queue="gpu")

    start_worker(services.settings, "--queues=cpu")
    cpu_runs = [*trials, interactive]
    wait_for(lambda: all(load(services, run).status == "succeeded" for run in cpu_runs), 120, "the cpu runs")
    first = min(cpu_runs, key=lambda run: load(services, run).started_at)
    assert first == interactive
    assert {load(services, run).status for run in on_gpu} == {"queued"}, "a cpu worker leaves the gpu queue alone"
    assert sum(services.redis.llen(key) for key in names.task_queue_keys("gpu")) == 2

    start_worker(services.settings, "--queues=gpu", "--concurrency=2")
    wait_for(lambda: all(load(services, run).status == "running" for run in on_gpu), 120, "both gpu runs at once")
    wait_for(lambda: all(load(services, run).status == "succeeded" for run in on_gpu), 120, "the gpu runs")
    assert all(load(services, run).peak_rss_mb is not None for run in [*cpu_runs, *on_gpu])


def with_memory_limit(services, limit_mb):
    """The same worker, allowed `limit_mb` in all (AZURAFORGE_WORKER_MEMORY_MB): less than it already holds."""
    return replace(services, settings=services.settings.model_copy(update={"worker_memory_mb": limit_mb}))


def test_a_run_declared_larger_than_the_free_memory_goes_back_then_fails_saying_so(services, monkeypatch):
    small = with_memory_limit(services, 1)
    monkeypatch.setattr(SineTestPipeline, "memory_mb", 50)
    experiment_id = queue(services, {"epochs": 1})
    with pytest.raises(NotEnoughMemoryError):
        runner.run_experiment(small, experiment_id, last_chance=False)
    assert load(services, experiment_id).status == "queued", "left for a worker with room"

    assert runner.run_experiment(small, experiment_id, last_chance=True) == "failed"
    error = load(services, experiment_id).error
    assert "needs about 50 MB (declared by the app)" in error
    assert "this one had" in error


def test_the_guard_learns_a_run_s_need_from_the_peak_memory_of_earlier_runs(services):
    first = queue(services, {"epochs": 1})
    assert runner.run_experiment(services, first) == "succeeded"
    peak = load(services, first).peak_rss_mb
    assert peak is not None

    small = with_memory_limit(services, 1)
    second = queue(services, {"epochs": 1})
    assert runner.run_experiment(small, second) == "failed"
    assert f"needs about {peak} MB (the most its last 1 run(s) took)" in load(services, second).error

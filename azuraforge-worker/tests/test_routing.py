"""The memory guard: a worker leaves a run it cannot fit to another worker, judging by the app's declaration or by
earlier runs' peaks. (Queues, priorities and --concurrency are shown with worker processes on hosts of their own
in the API's test_hosts.)"""

from dataclasses import replace

import pytest
from conftest import load, queue

from azuraforge_worker import runner
from azuraforge_worker.memory import NotEnoughMemoryError
from azuraforge_worker.testing import SineTestPipeline


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

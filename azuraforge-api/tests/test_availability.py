"""Availability under load: concurrent writes on SQLite, an exhausted connection pool, slow predictions."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import RunningAPI, create, make_settings, record, run_dir, wait_for

from azuraforge_api.platform import PREDICT_SLOTS
from azuraforge_common import store
from azuraforge_worker.testing import SineTestPipeline


@pytest.fixture
def quick_api(tmp_path, redis_server, redis_client, test_app_path):
    """An API on SQLite that gives up waiting for the database after 1 s."""
    with RunningAPI(make_settings(tmp_path, redis_server.url, database_timeout_s=1)) as api:
        yield api


def test_an_exhausted_connection_pool_is_a_503_with_retry_after(quick_api):
    experiment = create(quick_api)
    pool = quick_api.platform.engine.pool
    held = [quick_api.platform.engine.connect() for _ in range(pool.size() + pool._max_overflow)]
    try:
        busy = quick_api.http.get(f"/api/v1/experiments/{experiment['id']}")
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"].isdigit()
        assert "busy" in busy.json()["detail"]
    finally:
        for connection in held:
            connection.close()
    assert quick_api.http.get(f"/api/v1/experiments/{experiment['id']}").status_code == 200


def test_a_held_sqlite_write_lock_is_a_503_busy_not_unreachable(quick_api):
    experiment = create(quick_api)
    locker = sqlite3.connect(quick_api.settings.resolved_database_url.removeprefix("sqlite:///"))
    locker.execute("BEGIN IMMEDIATE")
    try:
        busy = quick_api.http.post(f"/api/v1/experiments/{experiment['id']}/cancel")
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"].isdigit()
        assert "busy" in busy.json()["detail"]
    finally:
        locker.rollback()
        locker.close()
    assert quick_api.http.post(f"/api/v1/experiments/{experiment['id']}/cancel").status_code == 202


def test_concurrent_writes_on_sqlite_all_succeed(api):
    """~100 cancels and creates at once, while a worker-like writer updates progress: no 500, nothing lost."""
    grid = api.http.post("/api/v1/experiments", json={"app": "sine_test", "grid": {"epochs": list(range(1, 81))}})
    ids = [e["id"] for e in grid.json()["experiments"]]
    stop = threading.Event()

    def worker_writes():
        while not stop.wait(0.01):  # workers write once per epoch; this is far more often
            with api.platform.sessions() as session:
                store.record_progress(session, ids[0], 1, 2)

    def call(n):
        with httpx.Client(base_url=api.url, timeout=60) as client:
            if n < len(ids):
                return client.post(f"/api/v1/experiments/{ids[n]}/cancel")
            return client.post("/api/v1/experiments", json={"app": "sine_test", "config": {}})

    writer = threading.Thread(target=worker_writes)
    writer.start()
    try:
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(call, range(len(ids) + 20)))
    finally:
        stop.set()
        writer.join()
    assert [a.status_code for a in answers] == [202] * len(answers), [a.text for a in answers if a.is_error][:3]
    assert {record(api, i).status for i in ids} == {"cancelled"}
    assert api.http.get("/api/v1/experiments", params={"status": "queued"}).json()["total"] == 20


def test_slow_predictions_leave_the_rest_of_the_api_answering(api, monkeypatch):
    experiment = create(api)
    output_dir = run_dir(api, experiment["id"])
    output_dir.mkdir(parents=True)
    (output_dir / "model.npz").write_bytes(b"")
    release = threading.Event()

    def hanging_predict(self, output_dir, data=None):
        release.wait(60)  # a model that takes its time
        return {"forecast": [1.0]}

    monkeypatch.setattr(SineTestPipeline, "predict", hanging_predict)

    def call_predict(_):
        with httpx.Client(base_url=api.url, timeout=90) as client:
            return client.post(f"/api/v1/experiments/{experiment['id']}/predict", json={"data": [{"value": 1.0}]})

    with ThreadPoolExecutor(45) as pool:
        calls = [pool.submit(call_predict, n) for n in range(45)]
        # Those beyond the slots are answered at once while the others hang.
        wait_for(lambda: sum(call.done() for call in calls) == 45 - PREDICT_SLOTS, 60, "the refusals")
        try:
            with httpx.Client(base_url=api.url, timeout=10) as client:
                assert client.get("/api/v1/health").status_code == 200
                assert client.get(f"/api/v1/experiments/{experiment['id']}").status_code == 200
        finally:
            release.set()
        answers = [call.result(timeout=60) for call in calls]
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * PREDICT_SLOTS + [503] * (45 - PREDICT_SLOTS), codes
    assert all(a.headers["Retry-After"].isdigit() for a in answers if a.status_code == 503)

import contextlib
import functools
import sys
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn

from azuraforge_api.app import create_app
from azuraforge_api.platform import Platform
from azuraforge_common import names, store
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import parse_event
from azuraforge_common.migrate import upgrade
from azuraforge_common.processes import free_port, wait_until
from azuraforge_common.settings import Settings
from azuraforge_worker import catalog, runner
from azuraforge_worker.serving import ModelCache, serve_forever
from azuraforge_worker.testing import register_test_app

pytest_plugins = ["azuraforge_common.testing"]


@pytest.fixture(scope="session", autouse=True)
def test_app_path(tmp_path_factory):
    """The test app, discoverable through its entry point here and in child processes (PYTHONPATH); autouse, so
    the app catalog every test database gets (see make_settings) holds it."""
    path = register_test_app(tmp_path_factory.mktemp("apps"))
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


class RunningAPI:
    """create_app(settings) served by a real uvicorn on a free port, in a thread of the test process."""

    def __init__(self, settings: Settings, freeze_gc: bool = False, **uvicorn_options: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, freeze_gc=freeze_gc)  # off: many apps in one process (see test_live)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        # As `azuraforge up` and the API image serve: no permessage-deflate, so the hub writes events' frames itself.
        options = {"log_level": "warning", "ws_per_message_deflate": False, **uvicorn_options}
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def platform(self) -> Platform:
        platform: Platform = self.app.state.platform
        return platform

    def __enter__(self) -> "RunningAPI":
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "uvicorn")
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(30)


@functools.cache
def installed_apps():
    """The apps of this environment, described once per session (describing imports every app)."""
    return catalog.installed_apps("tests")


def make_settings(tmp_path, redis_url, **overrides):
    """Settings on a migrated database whose app catalog holds the apps installed here, as a worker publishes them
    (test_catalog.py shows a real worker process publishing)."""
    database_url = overrides.pop("database_url", f"sqlite:///{tmp_path / 'azuraforge.db'}")
    upgrade(database_url)
    # No dashboard unless a test gives one: the bundled build may appear while this suite runs (scripts/test.sh).
    overrides.setdefault("dashboard_dir", tmp_path / "no-dashboard")
    settings = Settings(redis_url=redis_url, database_url=database_url, data_dir=tmp_path / "data", **overrides)
    catalog.store(settings, installed_apps())
    return settings


@pytest.fixture
def settings(tmp_path, redis_server, test_app_path):
    return make_settings(tmp_path, redis_server.url)


@pytest.fixture
def api(settings, redis_client):
    with RunningAPI(settings) as running:
        yield running


def create(api, config=None, app="sine_test", **fields):
    response = api.http.post("/api/v1/experiments", json={"app": app, "config": config or {}, **fields})
    assert response.status_code == 202, response.text
    return response.json()


def run_in_process(api, experiment_id):
    """What a worker does with the task, done here by the worker's own code."""
    services = runner.Services.from_settings(api.settings)
    try:
        return runner.run_experiment(services, experiment_id)
    finally:
        services.redis.close()


def queued_tasks(api, queue="cpu"):
    """Tasks waiting in `queue`, at every priority."""
    return sum(api.platform.redis.llen(key) for key in names.task_queue_keys(queue))


def run_dir(api, experiment_id):
    """The run's folder in the API's local artifact store (tests that put files there by hand)."""
    return api.platform.artifacts.local_dir(run_key(experiment_id))


def stored_events(api, experiment_id):
    stream = api.platform.redis.xrange(names.events_stream(experiment_id))
    return [parse_event(fields[b"event"]) for _, fields in stream]


def record(api, experiment_id):
    with api.platform.sessions() as session:
        return store.get_experiment(session, experiment_id)


def wait_for(predicate, timeout_s=60.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout_s:.0f} s"
        time.sleep(0.05)
    return result


@contextlib.contextmanager
def serving(api, settings=None):
    """The model server's own code (its threads and cache), on the API's Redis and `settings` (default: the
    API's)."""
    settings = settings or api.settings
    stop = threading.Event()
    cache = ModelCache(settings)
    thread = threading.Thread(target=serve_forever, args=(settings, stop, 2, cache), daemon=True)
    thread.start()
    try:
        yield cache
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def model_server(api):
    with serving(api) as cache:
        yield cache


@pytest.fixture
def reaping_api(tmp_path, redis_server, redis_client, test_app_path):
    """An API whose heartbeats last 1 s, so its reaper trusts a missing one once Redis has been up for 1 s."""
    with RunningAPI(make_settings(tmp_path, redis_server.url, heartbeat_ttl_s=1, reaper_interval_s=3600)) as api:
        wait_for(lambda: api.platform.redis.info("server")["uptime_in_seconds"] >= 1, 10, "Redis up for 1 s")
        yield api

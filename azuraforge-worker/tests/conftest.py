import os
import signal
import subprocess
import sys
import time

import pytest

from azuraforge_common import names, store
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import parse_event
from azuraforge_common.migrate import upgrade
from azuraforge_common.processes import stop_process
from azuraforge_common.settings import Settings
from azuraforge_common.worker import worker_command
from azuraforge_worker.config import create_celery
from azuraforge_worker.runner import Services
from azuraforge_worker.testing import TEST_APP, register_test_app

pytest_plugins = ["azuraforge_common.testing"]


@pytest.fixture(scope="session")
def test_app_path(tmp_path_factory):
    """The test app, discoverable through its entry point here and in worker processes (PYTHONPATH)."""
    path = register_test_app(tmp_path_factory.mktemp("apps"))
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


@pytest.fixture
def settings(tmp_path, redis_server, test_app_path):
    database_url = f"sqlite:///{tmp_path / 'azuraforge.db'}"
    upgrade(database_url)
    return Settings(
        redis_url=redis_server.url, database_url=database_url, data_dir=tmp_path / "data", heartbeat_ttl_s=3
    )


@pytest.fixture
def services(settings, redis_client):
    built = Services.from_settings(settings)
    yield built
    built.redis.close()


def queue(services, config, app=TEST_APP):
    with services.sessions() as session:
        (experiment,) = store.create_experiments(session, [store.NewExperiment(app=app, config=config)])
    return experiment.id


def load(services, experiment_id):
    with services.sessions() as session:
        return store.get_experiment(session, experiment_id)


def artifact(services, experiment_id, relative):
    """A file of the run, read from the artifact store (None if it is not there)."""
    return services.artifacts.read(run_key(experiment_id, relative))


def events(services, experiment_id):
    stream = services.redis.xrange(names.events_stream(experiment_id))
    return [parse_event(fields[b"event"]) for _, fields in stream]


def wait_for(predicate, timeout_s=60.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout_s:.0f} s"
        time.sleep(0.05)
    return result


def worker_environment(settings, test_app_path):
    return {
        **os.environ,
        "AZURAFORGE_REDIS_URL": settings.redis_url,
        "AZURAFORGE_DATABASE_URL": settings.resolved_database_url,
        "AZURAFORGE_DATA_DIR": str(settings.data_dir),
        "AZURAFORGE_HEARTBEAT_TTL_S": str(settings.heartbeat_ttl_s),
        "PYTHONPATH": os.pathsep.join([str(test_app_path), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def start_worker(settings, test_app_path, tmp_path):
    """Starts real Celery worker processes (stopped at the end of the test); their output goes to worker-N.log."""
    started: list[subprocess.Popen[bytes]] = []

    def start(worker_settings=settings, name=None):
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            worker_command(name or f"test{len(started)}"),
            env=worker_environment(worker_settings, test_app_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process, sig=signal.SIGKILL)


@pytest.fixture
def send(settings):
    celery = create_celery(settings)

    def send_task(experiment_id):
        celery.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment_id])

    yield send_task
    celery.close()

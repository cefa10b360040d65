"""How a worker process is started: by `azuraforge up`, by compose, by the tests."""

import sys


def worker_command(name: str, loglevel: str = "INFO") -> list[str]:
    """A Celery worker running one experiment at a time in its main process (solo pool): killing that process
    kills the experiment with it, and its heartbeat stops, which the API's reaper notices."""
    return [
        sys.executable, "-m", "celery", "-A", "azuraforge_worker.celery_app", "worker",
        "--pool=solo", "--concurrency=1", f"--hostname={name}@%h", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip

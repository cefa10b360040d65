"""The Celery worker command line behind `python -m azuraforge_worker`."""

CELERY_APP = "azuraforge_worker.celery_app"


def celery_arguments(name: str, loglevel: str = "INFO") -> list[str]:
    """A Celery worker running one experiment at a time in its main process (solo pool): killing that process
    kills the experiment with it, and its heartbeat stops, which the API's reaper notices."""
    return [
        "-A", CELERY_APP, "worker",
        "--pool=solo", "--concurrency=1", f"--hostname={name}@%h", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip

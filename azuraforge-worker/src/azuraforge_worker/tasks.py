"""The Celery task the API sends: run one experiment by id."""

import functools
from typing import Any

import redis
from celery import Task
from celery.signals import worker_shutting_down
from sqlalchemy.exc import OperationalError

from azuraforge_common import names
from azuraforge_common.settings import Settings
from azuraforge_worker import runner
from azuraforge_worker.celery_app import app
from azuraforge_worker.memory import NotEnoughMemoryError


@functools.cache
def _services() -> runner.Services:
    """Created once per worker process, on its first task."""
    return runner.Services.from_settings(Settings())


MEMORY_RETRIES = 8
MEMORY_RETRY_S = 15
"""A run no worker has the memory for goes back to its queue this often, this far apart, before it is failed."""


def run_experiment(task: Task, experiment_id: str) -> str | None:
    try:
        return runner.run_experiment(_services(), experiment_id, last_chance=task.request.retries >= MEMORY_RETRIES)
    except NotEnoughMemoryError as exc:
        # Back to its queue (with its priority), for a worker with more room, or this one once memory frees up.
        raise task.retry(exc=exc, countdown=MEMORY_RETRY_S) from exc


def _stop_training(**_: Any) -> None:
    # A warm shutdown waits for the running task; stopping its training after the current batch keeps that short.
    runner.shutting_down.set()


# Redis or the database being unreachable is worth waiting out: the task is retried with a growing delay
# (an experiment that had already started is failed by the API's reaper instead; it is not started twice).
run_experiment_task = app.task(
    name=names.RUN_EXPERIMENT_TASK,
    bind=True,
    autoretry_for=(OperationalError, redis.ConnectionError, redis.TimeoutError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=30,
)(run_experiment)
worker_shutting_down.connect(_stop_training, weak=False)

"""The Celery task the API sends: run one experiment by id."""

import functools
from typing import Any

import redis
from celery.signals import worker_shutting_down
from sqlalchemy.exc import OperationalError

from azuraforge_common import names
from azuraforge_common.settings import Settings
from azuraforge_worker import runner
from azuraforge_worker.celery_app import app


@functools.cache
def _services() -> runner.Services:
    """Created once per worker process, on its first task."""
    return runner.Services.from_settings(Settings())


def run_experiment(experiment_id: str) -> str | None:
    status = runner.run_experiment(_services(), experiment_id)
    runner.advance_sweep(_services(), experiment_id, _send)
    return status


def _send(experiment_id: str) -> None:
    app.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment_id])


def _stop_training(**_: Any) -> None:
    # A warm shutdown waits for the running task; stopping its training after the current batch keeps that short.
    runner.shutting_down.set()


# Redis or the database being unreachable is worth waiting out: the task is retried with a growing delay
# (an experiment that had already started is failed by the API's reaper instead; it is not started twice).
run_experiment_task = app.task(
    name=names.RUN_EXPERIMENT_TASK,
    autoretry_for=(OperationalError, redis.ConnectionError, redis.TimeoutError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=30,
)(run_experiment)
worker_shutting_down.connect(_stop_training, weak=False)

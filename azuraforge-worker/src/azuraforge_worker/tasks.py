"""The Celery task the API sends: run one experiment by id."""

import functools
import threading
from typing import Any

import redis
from celery import Task
from celery.signals import worker_process_init, worker_ready, worker_shutting_down
from sqlalchemy.exc import OperationalError

from azuraforge_common import names
from azuraforge_common.models import Experiment
from azuraforge_common.processes import freeze_startup_objects
from azuraforge_common.settings import Settings
from azuraforge_common.worker import run_task_options
from azuraforge_worker import runner
from azuraforge_worker.celery_app import app
from azuraforge_worker.memory import NotEnoughMemoryError
from azuraforge_worker.progress import EventPublisher

_worker_name = "worker"


@functools.cache
def _services() -> runner.Services:
    """Created once per worker process, when it is ready for tasks."""
    return runner.Services.from_settings(Settings(), _worker_name)


MEMORY_RETRIES = 8
MEMORY_RETRY_S = 15
"""A run no worker has the memory for goes back to its queue this often, this far apart, before it is failed."""


def run_experiment(task: Task, experiment_id: str) -> str | None:
    try:
        status = runner.run_experiment(_services(), experiment_id, last_chance=task.request.retries >= MEMORY_RETRIES)
    except NotEnoughMemoryError as exc:
        # Back to its queue (with its priority), for a worker with more room, or this one once memory frees up.
        raise task.retry(exc=exc, countdown=MEMORY_RETRY_S) from exc
    runner.advance_sweep(_services(), experiment_id, _send)
    return status


def _send(experiment: Experiment) -> None:
    app.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment.id], **run_task_options(experiment))


def _publish_spooled_events(sender: Any, **_: Any) -> None:
    # Redis is back (the worker is ready only once it reaches it): what the previous run of this worker kept on
    # disk goes out now, off the main thread, in order.
    global _worker_name
    _worker_name = str(sender.hostname)
    services = _services()
    drain = EventPublisher(services.redis, services.spool_path)
    threading.Thread(target=drain.close, name="azuraforge-spool", daemon=True).start()


def exempt_startup_objects_from_gc(**_: Any) -> None:
    """Everything alive once the worker is ready to train (numpy, Celery, the database layer, the apps) lives as
    long as the process: the garbage collector stops walking it. Each full collection walked it all, 0.1-0.4 s a
    few times a run with the training thread and the event publisher's both stopped: live events waited, and
    training lost the time too."""
    freeze_startup_objects()


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
worker_ready.connect(_publish_spooled_events, weak=False)
worker_ready.connect(exempt_startup_objects_from_gc, weak=False)  # the solo pool trains in this process
worker_process_init.connect(exempt_startup_objects_from_gc, weak=False)  # each process of a prefork pool

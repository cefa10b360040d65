"""How the API reaches the worker without importing it: the commands that start a worker and the model server,
and the Celery settings both sides use (the worker consumes with them, the API sends tasks with them). Plain data:
no Celery import."""

import sys
from collections.abc import Sequence
from typing import Any

from azuraforge_common import names
from azuraforge_common.models import Experiment
from azuraforge_common.settings import Settings

WORKER_MODULE = "azuraforge_worker"
"""`python -m azuraforge_worker` is the worker package's own command (its __main__)."""


def worker_command(name: str, loglevel: str = "INFO", queues: Sequence[str] = (), catalog: bool = True) -> list[str]:
    """The command `azuraforge up`, the worker image and the tests start a worker with; `name` becomes its Celery
    hostname `name@<host>`; it serves `queues` (default: every queue of AZURAFORGE_QUEUES). `catalog`: it
    publishes its apps to the app catalog as it starts."""
    command = [sys.executable, "-m", WORKER_MODULE, f"--name={name}", f"--loglevel={loglevel}"]
    if queues:
        command.append(f"--queues={','.join(queues)}")
    return command if catalog else [*command, "--no-catalog"]


def celery_settings(settings: Settings) -> dict[str, Any]:
    """Celery configuration on AZURAFORGE_REDIS_URL (for `Celery(...).conf.update`). Crash safety: a task is
    acknowledged only once it has finished (acks_late) and goes back to the queue if its worker process dies
    (reject_on_worker_lost); each worker reserves one task at a time (prefetch 1), and Redis hands an
    unacknowledged task to another worker after the visibility timeout; that copy finds its run no longer queued
    and is dropped (see azuraforge_worker.runner.run_experiment)."""
    return {
        "broker_url": settings.require_redis_url(),
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_s,
            # One Redis list per priority step, read in order: interactive runs overtake queued sweep trials.
            "priority_steps": list(names.PRIORITY_STEPS),
            "sep": names.PRIORITY_SEPARATOR,
            "queue_order_strategy": "priority",
        },
        "broker_connection_retry_on_startup": True,
        "task_default_queue": names.task_queue(names.DEFAULT_QUEUE),
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # Sending must fail fast when Redis is down: the API answers 503 instead of hanging.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def run_task_options(experiment: Experiment) -> dict[str, Any]:
    """How the run of a queued experiment is sent (`send_task(names.RUN_EXPERIMENT_TASK, args=[id], **these)`): to
    its queue, and a grid's or a sweep's trial behind the interactive runs of that queue."""
    priority = names.PRIORITY_BATCH if experiment.batch_id else names.PRIORITY_INTERACTIVE
    return {"queue": names.task_queue(experiment.queue), "priority": priority}


SERVE_MODULE = "azuraforge_worker.serve"


def serve_command(threads: int, loglevel: str = "INFO", catalog: bool = True) -> list[str]:
    """The model server's command (`python -m azuraforge_worker.serve`), which `azuraforge up` starts."""
    command = [sys.executable, "-m", SERVE_MODULE, f"--threads={threads}", f"--loglevel={loglevel}"]
    return command if catalog else [*command, "--no-catalog"]


CATALOG_MODULE = "azuraforge_worker.catalog"


def catalog_command(publisher: str) -> list[str]:
    """The command that publishes the apps installed in this environment to the app catalog and exits (status 1 if
    the database refuses), which `azuraforge up` runs before it starts the API."""
    return [sys.executable, "-m", CATALOG_MODULE, f"--publisher={publisher}"]

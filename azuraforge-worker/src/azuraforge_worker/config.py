"""The Celery configuration both sides use: the worker consumes with it, the API sends tasks with it."""

from celery import Celery

from azuraforge_common import names
from azuraforge_common.settings import Settings


def create_celery(settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    """A Celery app on AZURAFORGE_REDIS_URL. Crash safety: a task is acknowledged only once it has finished
    (acks_late) and goes back to the queue if its worker process dies (reject_on_worker_lost); each worker
    reserves one task at a time (prefetch 1), and Redis hands an unacknowledged task to another worker after the
    visibility timeout; that copy finds its run no longer queued and is dropped (see runner.run_experiment)."""
    app = Celery("azuraforge", broker=settings.require_redis_url(), include=list(include))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        task_default_queue=names.TASK_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # Sending must fail fast when Redis is down: the API answers 503 instead of hanging.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app

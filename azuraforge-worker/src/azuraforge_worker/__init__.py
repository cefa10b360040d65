"""AzuraForge's worker: a Celery task runs an experiment, streams its progress over Redis and records it."""

from azuraforge_worker.progress import EventPublisher, RedisProgressCallback, RedisReporter
from azuraforge_worker.runner import Services, run_experiment

__all__ = ["EventPublisher", "RedisProgressCallback", "RedisReporter", "Services", "run_experiment"]

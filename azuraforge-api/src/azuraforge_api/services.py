"""What the experiment routes do, apart from HTTP parsing and shaping: submit (with grid expansion and
idempotency), cancel, delete, and forecast with a saved model.

Failures a client can act on are HTTPExceptions naming what to do next, as in azuraforge_api.catalog;
an unreachable Redis or database propagates and is answered 503 by azuraforge_api.errors."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pandas as pd
import redis
from fastapi import HTTPException, status
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import catalog
from azuraforge_api.files import has_artifact
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import ExperimentCreate
from azuraforge_common import names, store
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import TERMINAL_STATUSES, StatusEvent
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.models import Experiment, IdempotencyKey, new_id
from azuraforge_common.publish import publish_event
from azuraforge_learner.config import excerpt

WEIGHTS = "model.npz"


@dataclass(frozen=True)
class Submission:
    """What one POST created: a single experiment (batch_id None), or a grid's batch."""

    batch_id: str | None
    experiments: Sequence[Experiment]


def submit(platform: Platform, session: Session, request: ExperimentCreate, idempotency_key: str | None) -> Submission:
    """Queues an experiment, or one per combination of the grid; with an idempotency key, a repeated request
    gets what the first one created."""
    request_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None and (earlier := store.find_idempotency_key(session, idempotency_key)):
        return _replay(session, earlier, request_hash)
    pipeline = catalog.find_app(request.app)
    configs = catalog.expand(request, pipeline)
    queue = catalog.queue_of(request, pipeline, platform.settings.queues)
    batch_id = new_id() if request.grid else None
    new = [store.NewExperiment(request.app, config, name, tuple(request.tags), queue) for config, name in configs]
    try:
        experiments = store.create_experiments(
            session, new, batch_id, (idempotency_key, request_hash) if idempotency_key else None
        )
    except IntegrityError:
        # The same key, sent twice at once: the other request stored it first.
        session.rollback()
        earlier = store.find_idempotency_key(session, idempotency_key or "")
        if earlier is None:
            raise
        return _replay(session, earlier, request_hash)
    _enqueue(platform, session, experiments)
    return Submission(batch_id, experiments)


def _enqueue(platform: Platform, session: Session, experiments: list[Experiment]) -> None:
    """Announce and queue new experiments, sending the worker's task by name to their queue (a grid's trials
    behind interactive runs); if Redis fails, store nothing (the caller gets a 503)."""
    try:
        for experiment in experiments:
            publish_event(platform.redis, StatusEvent(experiment_id=experiment.id, status="queued"))
            platform.celery.send_task(
                names.RUN_EXPERIMENT_TASK,
                args=[experiment.id],
                queue=names.task_queue(experiment.queue),
                priority=names.PRIORITY_BATCH if experiment.batch_id else names.PRIORITY_INTERACTIVE,
            )
    except (redis.RedisError, BrokerError):
        for experiment in experiments:
            store.delete_experiment(session, experiment.id)
        raise


def _replay(session: Session, earlier: IdempotencyKey, request_hash: str) -> Submission:
    if earlier.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this Idempotency-Key was already used with a different request; send a new key for a new request",
        )
    if earlier.batch_id is not None:
        members, _ = store.list_experiments(
            session, store.ExperimentFilter(batch_id=earlier.batch_id), sort="created_at", limit=catalog.MAX_GRID_SIZE
        )
        return Submission(earlier.batch_id, members)
    return Submission(None, [get(session, earlier.experiment_id or "")])


def cancel(platform: Platform, session: Session, experiment_id: str) -> Experiment:
    """A queued experiment ends cancelled at once; a running one is told to stop after its current batch."""
    experiment = get(session, experiment_id)
    if experiment.status in TERMINAL_STATUSES:
        raise HTTPException(status.HTTP_409_CONFLICT, f"experiment {experiment_id} already {experiment.status}")
    # The flag first: if the worker claims the experiment in between, it will still see it.
    platform.redis.set(names.cancel_key(experiment_id), 1, ex=platform.settings.visibility_timeout_s)
    end_experiment(session, platform.redis, experiment_id, ["queued"], "cancelled")
    session.expire_all()
    return get(session, experiment_id)


def delete(platform: Platform, session: Session, experiment_id: str) -> None:
    """Deletes a finished experiment, its artifacts and its events."""
    experiment = get(session, experiment_id)
    if experiment.status not in TERMINAL_STATUSES:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"experiment {experiment_id} is {experiment.status}; cancel it (POST .../cancel), then delete it",
        )
    platform.redis.delete(*names.experiment_keys(experiment_id))
    platform.artifacts.delete(run_key(experiment_id))
    store.delete_experiment(session, experiment_id)


async def predict(platform: Platform, experiment_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The forecast of the experiment's saved model from `rows`."""
    # Predicting loads a model, which can take long: it runs on threads of its own, at most PREDICT_SLOTS at
    # once (503 beyond), holding no database session, so it never starves the other routes.
    experiment = await run_in_threadpool(_read, platform, experiment_id)
    if not await run_in_threadpool(has_artifact, platform, experiment_id, WEIGHTS):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment_id} has no saved model (it is {experiment.status})"
        )
    pipeline = catalog.find_app(experiment.app)()
    predict_from = getattr(pipeline, "predict", None)
    if predict_from is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"app {experiment.app!r} cannot predict; only time-series apps can"
        )

    def forecast() -> dict[str, Any]:
        # The run's folder itself in a local store, else a temporary copy downloaded from the bucket.
        with platform.artifacts.checkout(run_key(experiment_id)) as output_dir:
            result: dict[str, Any] = predict_from(output_dir, pd.DataFrame.from_records(rows))
        return result

    try:
        platform.predict_slots.acquire_nowait()
    except anyio.WouldBlock:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"all {platform.predict_slots.total_tokens:.0f} prediction slots are busy; retry in a few seconds",
            {"Retry-After": "5"},
        ) from None
    try:
        # A thread outside the routes' pool (its own limiter); the slots bound how many such threads exist.
        return await anyio.to_thread.run_sync(forecast, limiter=anyio.CapacityLimiter(1))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    finally:
        platform.predict_slots.release()


def _read(platform: Platform, experiment_id: str) -> Experiment:
    """The record, read in a session of its own that is closed before the caller goes on."""
    with platform.sessions() as session:
        return get(session, experiment_id)


def get(session: Session, experiment_id: str) -> Experiment:
    experiment = store.get_experiment(session, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment {excerpt(experiment_id)}")
    return experiment

import hashlib
import mimetypes
import shutil
from typing import Annotated, Any

import anyio
import pandas as pd
import redis
from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import FileResponse, PlainTextResponse
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import catalog
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.files import served_file
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import (
    MAX_OFFSET,
    BatchOut,
    ExperimentCreate,
    ExperimentOut,
    ExperimentPage,
    PredictRequest,
)
from azuraforge_common import names, store
from azuraforge_common.events import TERMINAL_STATUSES, ExperimentStatus, StatusEvent
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.models import Experiment, IdempotencyKey, new_id
from azuraforge_common.publish import publish_event
from azuraforge_learner.config import excerpt

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])

REPORT = "report.md"
WEIGHTS = "model.npz"


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def create_experiment(
    body: ExperimentCreate,
    platform: PlatformDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> ExperimentOut | BatchOut:
    """Queue an experiment, or one per combination of `grid`. With an Idempotency-Key header, repeating the
    request returns what the first one created instead of creating more."""
    request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None and (earlier := store.find_idempotency_key(session, idempotency_key)):
        return _replay(session, earlier, request_hash)
    pipeline = catalog.find_app(body.app)
    configs = catalog.expand(body, pipeline)
    batch_id = new_id() if body.grid else None
    new = [store.NewExperiment(body.app, config, name, tuple(body.tags)) for config, name in configs]
    try:
        experiments = store.create_experiments(
            session, new, batch_id, (idempotency_key, request_hash) if idempotency_key else None
        )
    except IntegrityError:
        session.rollback()
        earlier = store.find_idempotency_key(session, idempotency_key or "")
        if earlier is None:
            raise
        return _replay(session, earlier, request_hash)
    _enqueue(platform, session, experiments)
    if batch_id is None:
        return ExperimentOut.of(experiments[0])
    return BatchOut(batch_id=batch_id, experiments=[ExperimentOut.of(e) for e in experiments])


def _enqueue(platform: Platform, session: Session, experiments: list[Experiment]) -> None:
    """Announce and queue new experiments; if Redis fails, store nothing (the caller gets a 503)."""
    try:
        for experiment in experiments:
            publish_event(platform.redis, StatusEvent(experiment_id=experiment.id, status="queued"))
            platform.celery.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment.id])
    except (redis.RedisError, BrokerError):
        for experiment in experiments:
            store.delete_experiment(session, experiment.id)
        raise


def _replay(session: Session, earlier: IdempotencyKey, request_hash: str) -> ExperimentOut | BatchOut:
    if earlier.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this Idempotency-Key was already used with a different request; send a new key for a new request",
        )
    if earlier.batch_id is not None:
        members, _ = store.list_experiments(
            session, store.ExperimentFilter(batch_id=earlier.batch_id), sort="created_at", limit=catalog.MAX_GRID_SIZE
        )
        return BatchOut(batch_id=earlier.batch_id, experiments=[ExperimentOut.of(e) for e in members])
    return ExperimentOut.of(_get(session, earlier.experiment_id or ""))


@router.get("")
def list_experiments(
    session: SessionDep,
    app: str | None = None,
    status: ExperimentStatus | None = None,
    tag: str | None = None,
    batch_id: str | None = None,
    sort: store.SortField = "-created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ExperimentPage:
    """A page of experiments, filtered and sorted (a leading "-" sorts descending)."""
    where = store.ExperimentFilter(app=app, status=status, tag=tag, batch_id=batch_id)
    items, total = store.list_experiments(session, where, sort, limit, offset)
    return ExperimentPage(items=[ExperimentOut.of(e) for e in items], total=total, limit=limit, offset=offset)


@router.get("/{experiment_id}", responses=errors(404))
def get_experiment(experiment_id: str, session: SessionDep) -> ExperimentOut:
    return ExperimentOut.of(_get(session, experiment_id))


@router.post("/{experiment_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=errors(404, 409))
def cancel_experiment(experiment_id: str, platform: PlatformDep, session: SessionDep) -> ExperimentOut:
    """A queued experiment ends cancelled at once; a running one stops after its current batch, keeping what it
    produced (watch its events, or GET it, for the end)."""
    experiment = _get(session, experiment_id)
    if experiment.status in TERMINAL_STATUSES:
        raise HTTPException(status.HTTP_409_CONFLICT, f"experiment {experiment_id} already {experiment.status}")
    # The flag first: if the worker claims the experiment in between, it will still see it.
    platform.redis.set(names.cancel_key(experiment_id), 1, ex=platform.settings.visibility_timeout_s)
    end_experiment(session, platform.redis, experiment_id, ["queued"], "cancelled")
    session.expire_all()
    return ExperimentOut.of(_get(session, experiment_id))


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_experiment(experiment_id: str, platform: PlatformDep, session: SessionDep) -> Response:
    """Deletes the experiment, its artifacts and its events. Cancel a queued or running one first."""
    experiment = _get(session, experiment_id)
    if experiment.status not in TERMINAL_STATUSES:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"experiment {experiment_id} is {experiment.status}; cancel it (POST .../cancel), then delete it",
        )
    platform.redis.delete(*names.experiment_keys(experiment_id))
    shutil.rmtree(platform.settings.experiment_dir(experiment_id), ignore_errors=True)
    store.delete_experiment(session, experiment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class MarkdownResponse(PlainTextResponse):
    media_type = "text/markdown"


@router.get(
    "/{experiment_id}/report",
    response_class=MarkdownResponse,
    responses=errors(404) | {200: {"description": "report.md", "content": {"text/markdown": {}}}},
)
def get_report(experiment_id: str, platform: PlatformDep, session: SessionDep) -> MarkdownResponse:
    """report.md as markdown; its image links are relative to .../artifacts/."""
    experiment = _get(session, experiment_id)
    report = served_file(platform.settings.experiment_dir(experiment_id), REPORT)
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no report yet (it is {experiment.status}); it is written when it ends",
        )
    return MarkdownResponse(report.read_text(encoding="utf-8"))


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    response_class=FileResponse,
    responses=errors(404)
    | {200: {"description": "The file, with the media type of its name", "content": {"application/octet-stream": {}}}},
)
def get_artifact(experiment_id: str, path: str, platform: PlatformDep, session: SessionDep) -> FileResponse:
    """One file the experiment wrote (images/loss.png, model.npz, history.csv, ...)."""
    _get(session, experiment_id)
    file = served_file(platform.settings.experiment_dir(experiment_id), path)
    if file is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"experiment {experiment_id} has no artifact {excerpt(path)}; its artifacts are listed in "
            f"GET .../{experiment_id}",
        )
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return FileResponse(file, media_type=media_type)


@router.post("/{experiment_id}/predict", responses=errors(404, 409))
async def predict(experiment_id: str, body: PredictRequest, platform: PlatformDep) -> dict[str, Any]:
    """Forecast with the experiment's saved model from the rows given."""
    # Predicting loads a model, which can take long: it runs on threads of its own, at most PREDICT_SLOTS at
    # once (503 beyond), holding no database session, so it never starves the other routes.
    experiment = await run_in_threadpool(_read, platform, experiment_id)
    output_dir = platform.settings.experiment_dir(experiment_id)
    if served_file(output_dir, WEIGHTS) is None:
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
        result: dict[str, Any] = predict_from(output_dir, pd.DataFrame.from_records(body.data))
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
        return _get(session, experiment_id)


def _get(session: Session, experiment_id: str) -> Experiment:
    experiment = store.get_experiment(session, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment {excerpt(experiment_id)}")
    return experiment

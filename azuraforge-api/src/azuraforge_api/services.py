"""What the experiment routes do, apart from HTTP parsing and shaping: submit (with grid expansion and
idempotency), cancel, delete, and predictions by the model server.

Failures a client can act on are HTTPExceptions (or 422s) naming what to do next;
an unreachable Redis or database propagates and is answered 503 by azuraforge_api.errors."""

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
import redis
from fastapi import HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import catalog, datasets
from azuraforge_api.auth import Caller
from azuraforge_api.files import has_artifact
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import BulkRequest, BulkResult, BulkSkip, ExperimentCreate, ExperimentPatch
from azuraforge_common import names, serving, store
from azuraforge_common.artifacts import run_key
from azuraforge_common.events import TERMINAL_STATUSES, ExperimentStatus, StatusEvent
from azuraforge_common.lifecycle import end_experiment
from azuraforge_common.models import Experiment, IdempotencyKey, Project, new_id
from azuraforge_common.publish import publish_event
from azuraforge_common.serving import ModelRef
from azuraforge_common.worker import run_task_options
from azuraforge_learner.config import excerpt
from azuraforge_learner.pipeline import WEIGHTS_FILE


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
    if session.get(Project, request.project) is None:  # a site admin may name any project
        raise HTTPException(status.HTTP_404_NOT_FOUND, no_project(request.project))
    app = catalog.find_app(session, request.app)
    configs = catalog.expand(request, app)
    queue = catalog.queue_of(request.queue, app, platform.settings.queues)
    datasets.check_configs(session, request.project, app, (config for config, _ in configs))
    batch_id = new_id() if request.grid else None
    new = [
        store.NewExperiment(request.app, config, name, tuple(request.tags), request.project, queue)
        for config, name in configs
    ]
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
            platform.celery.send_task(names.RUN_EXPERIMENT_TASK, args=[experiment.id], **run_task_options(experiment))
    except (redis.RedisError, BrokerError):
        for experiment in experiments:
            store.delete_experiment(session, experiment.id)
        raise


def check_same_request(earlier: IdempotencyKey, request_hash: str) -> None:
    """A key repeated with another request (or on another route) is a 409: its first answer would not fit."""
    if earlier.request_hash != request_hash:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "this Idempotency-Key was already used with a different request; send a new key for a new request",
        )


def _replay(session: Session, earlier: IdempotencyKey, request_hash: str) -> Submission:
    check_same_request(earlier, request_hash)
    if earlier.batch_id is not None:
        members, _, _ = store.list_experiments(
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
    """Deletes the experiment, its artifacts and its events; a queued or running one is cancelled first."""
    experiment = get(session, experiment_id)
    if experiment.status not in TERMINAL_STATUSES:
        end_experiment(session, platform.redis, experiment_id, ["queued", "running"], "cancelled")
        # After ending it (which clears the flag): its worker stops after the current batch, finds the record
        # gone and removes what it wrote meanwhile.
        platform.redis.set(names.cancel_key(experiment_id), 1, ex=platform.settings.visibility_timeout_s)
        keys = [key for key in names.experiment_keys(experiment_id) if key != names.cancel_key(experiment_id)]
    else:
        keys = names.experiment_keys(experiment_id)
    platform.redis.delete(*keys)
    platform.artifacts.delete(run_key(experiment_id))
    store.delete_experiment(session, experiment_id)


def update(platform: Platform, session: Session, experiment_id: str, change: ExperimentPatch) -> Experiment:
    experiment = get(session, experiment_id)
    store.update_experiment(session, experiment, change.name, change.tags, change.notes)
    session.refresh(experiment)
    return experiment


def bulk(platform: Platform, session: Session, caller: Caller, request: BulkRequest) -> BulkResult:
    """Cancels or deletes each selected experiment (the ids given, or every member of the batch the caller may
    see); one that cannot be (unknown, not the caller's to change, already ended) is listed with the reason and
    the others go on."""
    if request.batch_id is not None:
        where = store.ExperimentFilter(batch_id=request.batch_id, projects=caller.visible_projects())
        members, _, _ = store.list_experiments(session, where, sort="created_at", limit=catalog.MAX_GRID_SIZE)
        if not members:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no batch {excerpt(request.batch_id)}")
        ids = [member.id for member in members]
    else:
        ids = list(dict.fromkeys(request.ids or []))
    act = cancel if request.action == "cancel" else delete
    done, skipped = [], []
    for experiment_id in ids:
        try:
            caller.record(session.get(Experiment, experiment_id), "editor", f"no experiment {excerpt(experiment_id)}")
            act(platform, session, experiment_id)
            done.append(experiment_id)
        except HTTPException as refused:
            skipped.append(BulkSkip(id=experiment_id, reason=str(refused.detail)))
    return BulkResult(done=done, skipped=skipped)


def clone(session: Session, experiment_id: str) -> ExperimentCreate:
    """The request that repeats the run exactly: its full stored config (every default and the seed were filled
    in when it was submitted)."""
    experiment = get(session, experiment_id)
    name = f"{experiment.name or experiment.app} (again)"[:150]
    return ExperimentCreate(
        app=experiment.app, config=experiment.config, name=name, tags=experiment.tags, queue=experiment.queue
    )


async def predict_with_run(platform: Platform, experiment: Experiment, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The forecast of the experiment's saved model from `rows`, by the model server."""
    experiment_id = experiment.id
    if not await run_in_threadpool(has_artifact, platform, experiment_id, WEIGHTS_FILE):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment_id} has no saved model (it is {experiment.status})"
        )
    model = ModelRef(source="experiment", id=experiment.id, app=experiment.app)
    return await predict(platform, model, {"history": rows})


async def predict(platform: Platform, model: ModelRef, payload: dict[str, Any]) -> dict[str, Any]:
    """The model server's prediction for `payload`; the API itself loads no app and no model."""
    # Waiting holds a Redis connection of its own pool: at most PREDICT_SLOTS at once, 503 beyond.
    try:
        platform.predict_slots.acquire_nowait()
    except anyio.WouldBlock:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"all {platform.predict_slots.total_tokens:.0f} prediction slots are busy; retry in a few seconds",
            {"Retry-After": "5"},
        ) from None
    try:
        reply = await serving.ask(platform.serving, model, payload, platform.settings.predict_timeout_s)
    finally:
        platform.predict_slots.release()
    if reply is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the model server did not answer within {platform.settings.predict_timeout_s:g} s; check that it runs "
            "(`azuraforge up` starts it; alone: python -m azuraforge_worker.serve), then retry",
            {"Retry-After": "5"},
        )
    if reply.status == "ok" and reply.output is not None:
        return reply.output
    code = {
        "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
        "unavailable": status.HTTP_409_CONFLICT,
    }.get(reply.status, status.HTTP_500_INTERNAL_SERVER_ERROR)
    raise HTTPException(code, reply.detail or "the model server gave no reason")


def list_filter(
    app: str | None = None,
    status_: Annotated[ExperimentStatus | None, Query(alias="status")] = None,
    tag: str | None = None,
    batch_id: str | None = None,
    source: Annotated[
        Literal["worker", "external"] | None,
        Query(
            description="worker: apps run by workers; external: runs tracked from outside (MLflow, tracking client)."
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the id, the name, a tag, the notes, the app or the status."),
    ] = None,
    conditions: Annotated[
        list[str] | None,
        Query(
            alias="filter",
            max_length=20,
            description="Repeatable: metric.<name> or config.<field>, one of < <= > >= = !=, a value "
            "(metric.rmse<0.1, metric.val_loss<0.1, config.learning_rate>=0.001, config.optimizer=adam). "
            "metric.<name> is the run's test metric, or for a metric reported only per epoch (loss, val_loss, "
            "val_<name>) its value at the last epoch.",
        ),
    ] = None,
) -> store.ExperimentFilter:
    """The list's filters, from the query string (a FastAPI dependency)."""
    parsed = []
    for text in conditions or []:
        try:
            parsed.append(store.Condition.parse(text))
        except ValueError as exc:
            raise _query_error("filter", str(exc)) from None
    return store.ExperimentFilter(
        app=app, status=status_, tag=tag, batch_id=batch_id, source=source, q=q or None, conditions=tuple(parsed)
    )


def list_page(
    session: Session, where: store.ExperimentFilter, sort: str, limit: int, offset: int, cursor: str | None
) -> tuple[Sequence[Experiment], int, str | None]:
    if cursor is not None and offset:
        raise _query_error("cursor", "page with cursor or with offset, not both")
    try:
        return store.list_experiments(session, where, sort, limit, offset, cursor)
    except ValueError as exc:
        raise _query_error("cursor", str(exc)) from None


def _query_error(parameter: str, message: str) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, naming the query parameter."""
    return RequestValidationError([{"loc": ("query", parameter), "msg": message, "type": "value_error"}])


MAX_EXPORT = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_csv(session: Session, where: store.ExperimentFilter, sort: str) -> str:
    """The matching experiments as CSV; text a spreadsheet would run as a formula is prefixed with '."""
    experiments, _, _ = store.list_experiments(session, where, sort, MAX_EXPORT)
    metric_names = sorted({name for e in experiments for name in [*e.metrics, *(e.history or {})]})
    config_names = sorted({name for e in experiments for name in e.config})
    columns = ["id", "name", "app", "status", "tags", "batch_id", "created_at", "started_at", "finished_at"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [*columns, "peak_rss_bytes", "mean_epoch_s", *(f"metric.{m}" for m in metric_names),
         *(f"config.{c}" for c in config_names)]
    )  # fmt: skip
    for e in experiments:
        system = e.system or {}
        fields = [e.id, e.name, e.app, e.status, " ".join(e.tags), e.batch_id, e.created_at, e.started_at,
                  e.finished_at]  # fmt: skip
        row = [*fields, system.get("peak_rss_bytes"), system.get("mean_epoch_s")]
        row += [store.metric_value(e, m) for m in metric_names]
        row += [_cell(e.config.get(c)) for c in config_names]
        writer.writerow([_safe(value) for value in row])
    return out.getvalue()


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


ZIP_CHUNK = 1024 * 1024
ZIP64_FROM = 2**31
"""Past this size a zip member needs the zip64 extension, which must be asked for before a streamed write."""


def artifacts_zip(platform: Platform, experiment_id: str, artifacts: Sequence[str]) -> Iterator[bytes]:
    """Every artifact of the run, streamed from the store into one zip built in a temporary file (spilled to disk
    past 32 MiB) and read back in chunks; a listed file the store no longer has is left out."""
    with tempfile.SpooledTemporaryFile(max_size=32 * ZIP_CHUNK) as spool:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in artifacts:
                stored = platform.artifacts.open(run_key(experiment_id, path))
                if stored is None:
                    continue
                with archive.open(path, "w", force_zip64=stored.size > ZIP64_FROM) as member:
                    for chunk in stored.chunks:
                        member.write(chunk)
        spool.seek(0)
        while chunk := spool.read(ZIP_CHUNK):
            yield chunk


def log_lines(platform: Platform, experiment_id: str, after: int, limit: int) -> tuple[int, list[str]]:
    """How many complete lines the run's log holds, and up to `limit` of them after line `after`. A last line
    without its newline is still being written, so it is left for the next read."""
    stored = platform.artifacts.open(run_key(experiment_id, names.RUN_LOG_FILE))
    if stored is None:
        return 0, []
    total, page = 0, []
    for line in _complete_lines(stored.chunks):
        total += 1
        if after < total <= after + limit:
            page.append(line.decode("utf-8", errors="replace"))
    return total, page


def _complete_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The newline-ended lines of a stream, without their newlines."""
    rest = b""
    for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        yield from lines


def get(session: Session, experiment_id: str) -> Experiment:
    experiment = store.get_experiment(session, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no experiment {excerpt(experiment_id)}")
    return experiment


def no_project(project_id: str) -> str:
    return f"no project {excerpt(project_id)}; GET /api/v1/projects lists yours"

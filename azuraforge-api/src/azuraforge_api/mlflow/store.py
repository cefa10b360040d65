"""Tracking experiments and external runs in the database: what the MLflow routes read and write.

An MLflow run is an ordinary Experiment row with source "external"; its metrics, params, tags and dataset
inputs live in tables of their own (azuraforge_common.models). Every write commits before it returns.

Tracking experiments belong to a project (chosen at creation by the tag PROJECT_TAG), and their runs to the same
one. Every lookup goes through the caller (azuraforge_api.auth.Caller): a record in a project it cannot see is
answered exactly as a missing one; too low a role is refused (MlflowRoute turns both into MLflow's errors)."""

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from posixpath import normpath
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Insert, Select, Table, case, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from azuraforge_api.accounts import Role
from azuraforge_api.auth import Caller
from azuraforge_api.mlflow import protocol
from azuraforge_api.mlflow.errors import MlflowError, invalid, missing
from azuraforge_api.services import no_project
from azuraforge_common.events import TERMINAL_STATUSES
from azuraforge_common.models import (
    DEFAULT_PROJECT,
    Experiment,
    LoggedModel,
    Project,
    RunInput,
    RunLatestMetric,
    RunMetric,
    RunParam,
    RunTag,
    TrackingExperiment,
    new_id,
    utcnow,
)
from azuraforge_learner.config import excerpt

EXTERNAL = "external"
ACTIVE, DELETED = "active", "deleted"
PROJECT_TAG = "azuraforge.project"
"""The experiment tag naming its project (an id, as GET /api/v1/projects lists them); fixed at creation."""
RUN_NAME_TAG = "mlflow.runName"
SEQ_TAG = "azuraforge.seq"

# Metric values are written as plain rows (no ORM objects): a client may send one call per value.
METRICS: Table = RunMetric.__table__  # type: ignore[assignment]
LATEST_METRICS: Table = RunLatestMetric.__table__  # type: ignore[assignment]

_NAME = re.compile(r"^[/\w.\- :]*$")


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def from_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def check_key(kind: str, key: str) -> None:
    """MLflow's rule for metric, param and tag names: they may become file names, so they must be plain."""
    if not _NAME.match(key):
        raise invalid(
            f"Invalid value {excerpt(key)} for parameter 'key' supplied: {kind} names may only contain "
            "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    normalized = normpath(key) if key else ""
    if normalized != key or normalized in ("", ".") or normalized.startswith(("..", "/")):
        raise invalid(
            f"Invalid value {excerpt(key)} for parameter 'key' supplied: {kind} names must not be empty and "
            f"must not resolve to another name as a file path (this one resolves to {normalized!r})."
        )
    if len(key) > protocol.MAX_KEY_LENGTH:
        raise invalid(f"{kind} name '{key[:40]}...' exceeds the maximum length of {protocol.MAX_KEY_LENGTH}")


def check_value(kind: str, key: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise invalid(
            f"{kind} value of '{key}' is {len(value)} characters long, over the maximum length of {limit}; shorten it"
        )


# Tracking experiments


def _no_experiment(experiment_id: str) -> str:
    return f"No Experiment with id={excerpt(experiment_id)} exists"


def experiment_number(experiment_id: str) -> int:
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        raise missing(_no_experiment(experiment_id))
    return int(experiment_id)


def get_tracking_experiment(session: Session, caller: Caller, experiment_id: str, role: Role) -> TrackingExperiment:
    found = session.get(TrackingExperiment, experiment_number(experiment_id))
    return caller.record(found, role, _no_experiment(experiment_id))


def find_tracking_experiment(session: Session, caller: Caller, name: str) -> TrackingExperiment:
    """The experiment of that name in the projects the caller may see; names are unique per project, so when
    several projects have one, the oldest (an answer that experiments created later do not change)."""
    query = select(TrackingExperiment).where(TrackingExperiment.name == name)
    found = session.scalar(_visible(query, TrackingExperiment, caller).order_by(TrackingExperiment.id).limit(1))
    if found is None:
        raise missing(f"Could not find experiment with name {excerpt(name)}")
    return found


def create_tracking_experiment(
    session: Session, caller: Caller, name: str, tags: Sequence[protocol.KeyValue]
) -> TrackingExperiment:
    """A new experiment in the project its PROJECT_TAG names (else the default one), where the caller must be
    an editor."""
    for tag in tags:
        check_key("Tag", tag.key)
        check_value("Tag", tag.key, tag.value, protocol.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
    given = {tag.key: tag.value for tag in tags}
    project = given.pop(PROJECT_TAG, DEFAULT_PROJECT)
    missing_project = f"{no_project(project)} (tag {PROJECT_TAG!r})"
    caller.require(project, "editor", missing_project)
    if session.get(Project, project) is None:  # a site admin may name any project
        raise missing(missing_project)
    experiment = TrackingExperiment(name=name, project_id=project, tags=given)
    session.add(experiment)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment(name={excerpt(name)}) already exists.") from None
    return experiment


def rename_tracking_experiment(session: Session, experiment: TrackingExperiment, new_name: str) -> None:
    experiment.name, experiment.updated_at = new_name, utcnow()
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment(name={excerpt(new_name)}) already exists.") from None


def set_tracking_experiment_tag(session: Session, experiment: TrackingExperiment, key: str, value: str) -> None:
    check_key("Tag", key)
    check_value("Tag", key, value, protocol.MAX_EXPERIMENT_TAG_VALUE_LENGTH)
    if key == PROJECT_TAG:
        if value != experiment.project_id:
            raise invalid(
                f"Tag {PROJECT_TAG!r} is the experiment's project, {experiment.project_id!r}, fixed at its creation: "
                f"create an experiment with {PROJECT_TAG}={excerpt(value)} instead"
            )
        return
    experiment.tags = {**experiment.tags, key: value}
    experiment.updated_at = utcnow()
    session.commit()


def delete_tracking_experiment_tag(session: Session, experiment: TrackingExperiment, key: str) -> None:
    if key == PROJECT_TAG:
        raise invalid(
            f"Tag {PROJECT_TAG!r} is the experiment's project, {experiment.project_id!r}, fixed at its creation: "
            "it cannot be removed"
        )
    if key not in experiment.tags:
        raise missing(f"No tag with name: {excerpt(key)} in experiment with id {experiment.id}")
    experiment.tags = {k: v for k, v in experiment.tags.items() if k != key}
    experiment.updated_at = utcnow()
    session.commit()


def set_tracking_experiment_stage(session: Session, experiment: TrackingExperiment, stage: str) -> None:
    """Soft-deletes or restores the experiment, and its runs with it (as MLflow does)."""
    if experiment.id == 0 and stage == DELETED:
        raise invalid("Cannot delete the default experiment '0'. This is a reserved experiment.")
    experiment.lifecycle_stage, experiment.updated_at = stage, utcnow()
    for run in session.scalars(select(Experiment).where(Experiment.tracking_experiment_id == experiment.id)):
        run.lifecycle_stage = stage
    session.commit()


Q = TypeVar("Q", bound=Select[Any])


def _visible(query: Q, table: type[TrackingExperiment] | type[Experiment], caller: Caller) -> Q:
    projects = caller.visible_projects()
    return query if projects is None else query.where(table.project_id.in_(projects))


def tracking_experiments(
    session: Session, caller: Caller, view_type: protocol.ViewType
) -> Sequence[TrackingExperiment]:
    query = _visible(select(TrackingExperiment), TrackingExperiment, caller)
    if view_type != "ALL":
        stage = ACTIVE if view_type == "ACTIVE_ONLY" else DELETED
        query = query.where(TrackingExperiment.lifecycle_stage == stage)
    return session.scalars(query.order_by(TrackingExperiment.id)).all()


# Runs


def get_run(session: Session, caller: Caller, run_id: str, role: Role) -> Experiment:
    # The platform's plain tags are not MLflow's: not loaded on this path, which every logging call takes.
    run = session.get(Experiment, run_id, options=[lazyload(Experiment.tag_rows)]) if run_id else None
    message = f"Run with id={excerpt(run_id)} not found"
    return caller.record(run if run is not None and run.source == EXTERNAL else None, role, message)


def active_run(session: Session, caller: Caller, run_id: str) -> Experiment:
    """The run to log into: the caller must be an editor of its project, and the run not deleted (MLflow
    refuses to log into a deleted run)."""
    run = get_run(session, caller, run_id, "editor")
    if run.lifecycle_stage != ACTIVE:
        raise invalid(f"The run {run_id} must be in the 'active' state. Current state is {run.lifecycle_stage}.")
    return run


def create_run(session: Session, caller: Caller, request: protocol.CreateRun) -> Experiment:
    """A run in the experiment's project, so that the platform's own routes scope it as any other record."""
    experiment = get_tracking_experiment(session, caller, request.experiment_id, "editor")
    if experiment.lifecycle_stage != ACTIVE:
        raise invalid(
            f"The experiment {experiment.id} must be in the 'active' state. "
            f"Current state is {experiment.lifecycle_stage}."
        )
    tags = {tag.key: tag.value for tag in request.tags}
    for key, value in tags.items():
        check_key("Tag", key)
        check_value("Tag", key, value, protocol.MAX_TAG_VALUE_LENGTH)
    name = request.run_name or tags.get(RUN_NAME_TAG, "") or f"run-{new_id()[:8]}"
    tags[RUN_NAME_TAG] = name
    if request.user_id:
        tags.setdefault("mlflow.user", request.user_id)
    run = Experiment(
        id=new_id(),
        app=experiment.name[:200],
        name=name,
        status="running",
        started_at=from_ms(request.start_time) if request.start_time is not None else utcnow(),
        source=EXTERNAL,
        tracking_experiment_id=experiment.id,
        project_id=experiment.project_id,
    )
    session.add(run)
    session.flush()
    session.execute(insert(RunTag), [{"experiment_id": run.id, "key": k, "value": v} for k, v in tags.items()])
    session.commit()
    return run


def rename_run(session: Session, run: Experiment, name: str) -> None:
    run.name = name
    _upsert_tags(session, run.id, {RUN_NAME_TAG: name})
    session.commit()


def set_run_stage(session: Session, run: Experiment, stage: str) -> None:
    run.lifecycle_stage = stage
    session.commit()


@dataclass(frozen=True)
class Batch:
    """What one logging call carries, validated as MLflow's server validates it."""

    metrics: Sequence[protocol.Metric] = ()
    params: Sequence[protocol.KeyValue] = ()
    tags: Sequence[protocol.KeyValue] = ()


def check_batch(batch: Batch) -> None:
    if len(batch.metrics) > protocol.MAX_METRICS_PER_BATCH:
        raise invalid(
            f"A batch logging request can contain at most {protocol.MAX_METRICS_PER_BATCH} metrics. Got "
            f"{len(batch.metrics)} metrics. Please split up metrics across multiple requests and try again."
        )
    for kind, entries in (("params", batch.params), ("tags", batch.tags)):
        if len(entries) > protocol.MAX_PARAMS_TAGS_PER_BATCH:
            raise invalid(
                f"A batch logging request can contain at most {protocol.MAX_PARAMS_TAGS_PER_BATCH} {kind}. Got "
                f"{len(entries)} {kind}. Please split up {kind} across multiple requests and try again."
            )
    total = len(batch.metrics) + len(batch.params) + len(batch.tags)
    if total > protocol.MAX_ENTITIES_PER_BATCH:
        raise invalid(
            f"A batch logging request can contain at most {protocol.MAX_ENTITIES_PER_BATCH} metrics, params, and "
            f"tags in total. Got {total} in total. Please split up across multiple requests and try again."
        )
    for metric in batch.metrics:
        check_key("Metric", metric.key)
    keys = [param.key for param in batch.params]
    if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
        raise invalid(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure the request contains only "
            "one param value per param key."
        )
    for param in batch.params:
        check_key("Param", param.key)
        check_value("Param", param.key, param.value, protocol.MAX_PARAM_VALUE_LENGTH)
    for tag in batch.tags:
        check_key("Tag", tag.key)
        check_value("Tag", tag.key, tag.value, protocol.MAX_TAG_VALUE_LENGTH)


def log_batch(session: Session, run: Experiment, batch: Batch) -> bool:
    """Stores the batch in one transaction: all of it or, when a param would change its value, nothing.

    A batch tagged SEQ_TAG (AzuraForge's own client numbers its entries) is applied once: one whose number is
    not above the run's last is a resend, answered as a success and skipped. Returns whether it was applied."""
    check_batch(batch)
    seq = next((tag.value for tag in batch.tags if tag.key == SEQ_TAG), None)
    if seq is not None:
        if not seq.isdigit():
            raise invalid(f"Tag '{SEQ_TAG}' must be a sequence number (digits only), got {excerpt(seq)}")
        applied = session.get(RunTag, (run.id, SEQ_TAG))
        if applied is not None and applied.value.isdigit() and int(applied.value) >= int(seq):
            return False
    if batch.params:
        given = {param.key: param.value for param in batch.params}
        rows = session.execute(
            select(RunParam.key, RunParam.value).where(RunParam.experiment_id == run.id, RunParam.key.in_(list(given)))
        )
        stored: dict[str, str] = dict(rows.all())
        for key, value in given.items():
            if key in stored and stored[key] != value:
                raise invalid(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value={excerpt(stored[key])} for run ID='{run.id}'. Attempted logging new value "
                    f"{excerpt(value)}."
                )
        new = [{"experiment_id": run.id, "key": k, "value": v} for k, v in given.items() if k not in stored]
        if new:
            session.execute(insert(RunParam), new)
            run.config = {**run.config, **{row["key"]: row["value"] for row in new}}
    metrics = _without_copies(session, run.id, batch.metrics)
    if metrics:
        session.execute(METRICS.insert(), [_metric_row(run.id, metric) for metric in metrics])
        _keep_latest(session, [_metric_row(run.id, metric) for metric in newest(metrics).values()])
    if batch.tags:
        tags = {tag.key: tag.value for tag in batch.tags}
        _upsert_tags(session, run.id, tags)
        if RUN_NAME_TAG in tags:
            run.name = tags[RUN_NAME_TAG][:200]
    session.commit()
    return True


def _without_copies(session: Session, run_id: str, metrics: Sequence[protocol.Metric]) -> Sequence[protocol.Metric]:
    """The metrics less those linked to a model whose value the run holds already: MLflow's log_model sends the
    run's values at the model's step again that way, which must not double the run's history."""
    linked = [metric for metric in metrics if metric.model_id]
    if not linked:
        return metrics
    query = select(METRICS.c.key, METRICS.c.step, METRICS.c.timestamp, METRICS.c.value).where(
        METRICS.c.experiment_id == run_id,
        METRICS.c.key.in_({metric.key for metric in linked}),
        METRICS.c.step.in_({metric.step for metric in linked}),
    )
    stored = {tuple(row) for row in session.execute(query)}

    def identity(metric: protocol.Metric) -> tuple[Any, ...]:
        row = _metric_row(run_id, metric)
        return (row["key"], row["step"], row["timestamp"], row["value"])

    return [metric for metric in metrics if not (metric.model_id and identity(metric) in stored)]


def _metric_row(run_id: str, metric: protocol.Metric) -> dict[str, Any]:
    value = None if math.isnan(metric.value) else metric.value
    return {
        "experiment_id": run_id,
        "key": metric.key,
        "value": value,
        "step": metric.step,
        "timestamp": metric.timestamp,
    }


def _rank(metric: protocol.Metric) -> tuple[int, int, bool, float]:
    return (
        metric.step,
        metric.timestamp,
        not math.isnan(metric.value),
        0.0 if math.isnan(metric.value) else metric.value,
    )


def newest(metrics: Iterable[protocol.Metric]) -> dict[str, protocol.Metric]:
    """Each metric's latest value as MLflow defines it: the highest step, then the latest time, then the largest
    value (NaN lowest); of equals, the last logged."""
    found: dict[str, protocol.Metric] = {}
    for metric in metrics:
        if metric.key not in found or _rank(metric) >= _rank(found[metric.key]):
            found[metric.key] = metric
    return found


def _stored_rank(columns: Any) -> ColumnElement[Any]:
    """_rank in SQL, for a row of run_latest_metrics (NaN is stored as null)."""
    return tuple_(
        columns.step,
        columns.timestamp,
        case((columns.value.is_(None), 0), else_=1),
        func.coalesce(columns.value, 0.0),
    )


@functools.cache
def _keep_latest_statement(dialect_name: str) -> Insert:
    """Upserts a metric's value where it ranks at or above the stored one; built once (it is the same every call)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(LATEST_METRICS)
    new = statement.excluded
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=[LATEST_METRICS.c.experiment_id, LATEST_METRICS.c.key],
        set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
        where=_stored_rank(new) >= _stored_rank(LATEST_METRICS.c),
    )
    return upsert


def _keep_latest(session: Session, rows: list[dict[str, Any]]) -> None:
    """Each metric's newest value of a batch (one row per key), kept where it is the run's latest."""
    session.execute(_keep_latest_statement(session.get_bind().dialect.name), rows)


def _upsert_tags(session: Session, run_id: str, tags: dict[str, str]) -> None:
    session.execute(delete(RunTag).where(RunTag.experiment_id == run_id, RunTag.key.in_(list(tags))))
    session.execute(insert(RunTag), [{"experiment_id": run_id, "key": k, "value": v} for k, v in tags.items()])


def delete_tag(session: Session, run: Experiment, key: str) -> None:
    if session.get(RunTag, (run.id, key)) is None:
        raise missing(f"No tag with name: {excerpt(key)} in run with id {run.id}")
    session.execute(delete(RunTag).where(RunTag.experiment_id == run.id, RunTag.key == key))
    session.commit()


def log_inputs(session: Session, run: Experiment, inputs: Sequence[protocol.DatasetInput]) -> None:
    for entry in inputs:
        dataset = entry.dataset.model_dump(by_alias=True, exclude_none=True)
        key = (run.id, entry.dataset.name, entry.dataset.digest)
        if session.get(RunInput, key) is None:
            session.add(
                RunInput(
                    experiment_id=run.id,
                    name=entry.dataset.name,
                    digest=entry.dataset.digest,
                    dataset=dataset,
                    tags={tag.key: tag.value for tag in entry.tags},
                )
            )
    session.commit()


# Reading a run's data


@dataclass(frozen=True)
class StoredMetric:
    key: str
    value: float
    step: int
    timestamp: int


def _metric(row: Any) -> StoredMetric:
    return StoredMetric(row.key, math.nan if row.value is None else row.value, row.step, row.timestamp)


def latest_metrics(session: Session, run_ids: Iterable[str]) -> dict[str, dict[str, StoredMetric]]:
    """Each run's latest value of each metric (see newest)."""
    ids = list(run_ids)
    latest: dict[str, dict[str, StoredMetric]] = {run_id: {} for run_id in ids}
    if ids:
        for row in session.execute(select(RunLatestMetric).where(RunLatestMetric.experiment_id.in_(ids))).scalars():
            latest[row.experiment_id][row.key] = _metric(row)
    return latest


def key_values(
    session: Session, table: type[RunParam] | type[RunTag], run_ids: Iterable[str]
) -> dict[str, dict[str, str]]:
    ids = list(run_ids)
    found: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    if ids:
        for run_id, key, value in session.execute(
            select(table.experiment_id, table.key, table.value).where(table.experiment_id.in_(ids))
        ):
            found[run_id][key] = value
    return found


def run_outputs(session: Session, run_id: str) -> list[tuple[str, int]]:
    """The (model id, step) of each model the run logged (MLflow's log-outputs), not deleted."""
    query = select(LoggedModel.id, LoggedModel.step).where(
        LoggedModel.run_id == run_id, LoggedModel.lifecycle_stage == ACTIVE
    )
    return [(model_id, step) for model_id, step in session.execute(query.order_by(LoggedModel.id))]


def run_inputs(session: Session, run_id: str) -> Sequence[RunInput]:
    return session.scalars(select(RunInput).where(RunInput.experiment_id == run_id)).all()


def metric_history(
    session: Session, run_id: str, key: str, after_id: int, limit: int
) -> list[tuple[int, StoredMetric]]:
    """Up to `limit` values of the metric in the order they were logged, after row `after_id`."""
    rows = session.execute(
        select(RunMetric.id, RunMetric.key, RunMetric.value, RunMetric.step, RunMetric.timestamp)
        .where(RunMetric.experiment_id == run_id, RunMetric.key == key, RunMetric.id > after_id)
        .order_by(RunMetric.id)
        .limit(limit)
    )
    return [(row.id, _metric(row)) for row in rows]


def histories(session: Session, run_id: str) -> dict[str, list[StoredMetric]]:
    """Every metric's values by step (per step, the latest logged), for the record and the report."""
    by_key: dict[str, dict[int, StoredMetric]] = {}
    rows = session.execute(
        select(RunMetric.key, RunMetric.value, RunMetric.step, RunMetric.timestamp)
        .where(RunMetric.experiment_id == run_id)
        .order_by(RunMetric.key, RunMetric.step, RunMetric.timestamp, RunMetric.id)
    )
    for row in rows:
        by_key.setdefault(row.key, {})[row.step] = _metric(row)
    return {key: list(steps.values()) for key, steps in by_key.items()}


def search_candidates(
    session: Session, caller: Caller, experiment_ids: Sequence[str], view_type: protocol.ViewType
) -> Sequence[Experiment]:
    """The runs of those experiments in projects the caller may see (others', like unknown ones, have none)."""
    ids = [experiment_number(experiment_id) for experiment_id in experiment_ids]
    query = select(Experiment).where(Experiment.source == EXTERNAL, Experiment.tracking_experiment_id.in_(ids))
    query = _visible(query, Experiment, caller)
    if view_type != "ALL":
        query = query.where(Experiment.lifecycle_stage == (ACTIVE if view_type == "ACTIVE_ONLY" else DELETED))
    return session.scalars(query).all()


def reopen_run(session: Session, run: Experiment) -> bool:
    """An ended run running again (MLflow's start_run(run_id=...) resumes one); whether this call did it."""
    result = session.execute(
        update(Experiment)
        .where(Experiment.id == run.id, Experiment.status.in_(list(TERMINAL_STATUSES)))
        .values(status="running", finished_at=None, error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(run)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def restate_ended_run(session: Session, run: Experiment, status: str, finished_at: datetime | None) -> None:
    """A run that already ended, told another final status (or end time): the record follows, no new event."""
    run.status = status
    if finished_at is not None:
        run.finished_at = finished_at
    session.commit()

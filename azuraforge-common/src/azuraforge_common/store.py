"""Reading and changing experiment records. Every status change is one conditional UPDATE, so the API, the
worker and the reaper can race for the same experiment and exactly one of them wins."""

import base64
import binascii
import json
import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from azuraforge_common import names
from azuraforge_common.events import TERMINAL_STATUSES, ExperimentStatus
from azuraforge_common.models import DEFAULT_PROJECT, Experiment, ExperimentTag, IdempotencyKey, new_id, utcnow

COLUMN_SORTS = ("created_at", "started_at", "finished_at", "name", "app", "status")
"""Columns a list sorts by; "metric.<name>" and "config.<field>" sort by a value inside the record too."""
_FIELD = r"(?:metric|config)\.[A-Za-z0-9_.-]{1,100}"
SORT_PATTERN = rf"^-?(?:{'|'.join(COLUMN_SORTS)}|{_FIELD})$"
CONDITION_PATTERN = re.compile(rf"^\s*(?P<field>{_FIELD})\s*(?P<op><=|>=|!=|==|=|<|>)\s*(?P<value>.+?)\s*$")
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """`metric.rmse<0.1`, `config.learning_rate>=0.001`, `config.optimizer=adam`: a number compares as a number,
    anything else as text (then only = and != make sense)."""

    field: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> "Condition":
        """Raises ValueError saying what a condition looks like."""
        match = CONDITION_PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"{text[:100]!r} is not a condition; write metric.<name> or config.<field>, one of "
                "< <= > >= = !=, and a value (metric.rmse<0.1, config.learning_rate>=0.001)"
            )
        raw = match["value"]
        try:
            value: float | str = float(raw)
        except ValueError:
            if match["op"] not in {"=", "==", "!="}:
                raise ValueError(f"{text[:100]!r}: {match['op']} needs a number, not {raw[:50]!r}") from None
            value = raw
        return cls(match["field"], match["op"], value)

    def clause(self, dialect: str) -> ColumnElement[bool]:
        if isinstance(self.value, float):
            return _COMPARE[self.op](_number(self.field, dialect), self.value)
        return _COMPARE[self.op](_json_value(self.field).as_string(), self.value)


@dataclass(frozen=True)
class NewExperiment:
    app: str
    config: dict[str, Any]
    name: str = ""
    tags: tuple[str, ...] = ()
    project_id: str = DEFAULT_PROJECT
    queue: str = names.DEFAULT_QUEUE


@dataclass(frozen=True)
class ExperimentFilter:
    app: str | None = None
    status: ExperimentStatus | None = None
    tag: str | None = None
    batch_id: str | None = None
    projects: Collection[str] | None = None
    """Only experiments of these projects; None: of every project."""
    source: Literal["worker", "external"] | None = None
    """Only runs of workers, or only runs tracked from outside (the MLflow API, the tracking client)."""
    q: str | None = None
    """Text anywhere in the id, the name, a tag, the notes, the app or the status (case-insensitive)."""
    conditions: tuple[Condition, ...] = ()


def create_experiments(
    session: Session,
    new: Sequence[NewExperiment],
    batch_id: str | None = None,
    idempotency: tuple[str, str] | None = None,
) -> list[Experiment]:
    """Stores queued experiments, and the (key, request hash) that created them; commits.

    Raises sqlalchemy.exc.IntegrityError when another request stored the same idempotency key first.
    """
    experiments = []
    for spec in new:
        experiment = Experiment(
            id=new_id(),
            project_id=spec.project_id,
            app=spec.app,
            name=spec.name,
            config=spec.config,
            batch_id=batch_id,
            queue=spec.queue,
        )
        experiment.tags = list(spec.tags)
        experiments.append(experiment)
    session.add_all(experiments)
    if idempotency is not None:
        key, request_hash = idempotency
        single = experiments[0].id if batch_id is None else None
        session.add(IdempotencyKey(key=key, request_hash=request_hash, experiment_id=single, batch_id=batch_id))
    session.commit()
    return experiments


def find_idempotency_key(session: Session, key: str) -> IdempotencyKey | None:
    return session.get(IdempotencyKey, key)


def get_experiment(session: Session, experiment_id: str) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def status_and_project(session: Session, experiment_id: str) -> tuple[str, str] | None:
    """Only the two columns a watcher needs, not the record with its result and history."""
    row = session.execute(
        select(Experiment.status, Experiment.project_id).where(Experiment.id == experiment_id)
    ).one_or_none()
    return None if row is None else (row.status, row.project_id)


def list_experiments(
    session: Session,
    where: ExperimentFilter,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
) -> tuple[Sequence[Experiment], int, str | None]:
    """One page of experiments, how many match in all, and the cursor of the next page (None after the last).

    `sort` is a column or "metric.<name>" / "config.<field>", descending with a leading "-"; records without
    the value come last either way, and the id breaks ties, so a cursor (keyset) page never overlaps or skips
    rows however the list changes meanwhile. Raises ValueError for a cursor this sort did not make."""
    dialect = session.get_bind().dialect.name
    query = _filtered(select(Experiment), where, dialect)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    column = _sort_key(key, dialect)
    if cursor is not None:
        query = query.where(_after(column, descending, *_read_cursor(cursor, key)))
    order = column.desc() if descending else column.asc()
    rows = session.execute(
        query.add_columns(column).order_by(order.nulls_last(), Experiment.id).limit(limit + 1).offset(offset)
    ).all()
    page = [row[0] for row in rows[:limit]]
    more = len(rows) > limit
    next_cursor = _make_cursor(key, rows[limit - 1][1], page[-1].id) if more and page else None
    return page, total, next_cursor


def _filtered(query: Select[Any], where: ExperimentFilter, dialect: str) -> Select[Any]:
    if where.app is not None:
        query = query.where(Experiment.app == where.app)
    if where.status is not None:
        query = query.where(Experiment.status == where.status)
    if where.source is not None:
        query = query.where(Experiment.source == where.source)
    if where.batch_id is not None:
        query = query.where(Experiment.batch_id == where.batch_id)
    if where.projects is not None:
        query = query.where(Experiment.project_id.in_(list(where.projects)))
    if where.tag is not None:
        query = query.where(Experiment.tag_rows.any(ExperimentTag.tag == where.tag))
    if where.q:
        pattern = "%" + where.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                *(func.lower(text).like(pattern, escape="\\") for text in (
                    Experiment.id, Experiment.name, Experiment.notes, Experiment.app, Experiment.status
                )),
                Experiment.tag_rows.any(func.lower(ExperimentTag.tag).like(pattern, escape="\\")),
            )
        )  # fmt: skip
    for condition in where.conditions:
        query = query.where(condition.clause(dialect))
    return query


def _json_value(field: str) -> Any:
    kind, _, name = field.partition(".")
    return (Experiment.metrics if kind == "metric" else Experiment.config)[name]


def _number(field: str, dialect: str) -> ColumnElement[Any]:
    """The field's value where it is a JSON number, else NULL (PostgreSQL would fail to cast text, SQLite would
    compare text above every number). `metric.<name>` is the run's test metric of that name, or for a name it
    reports only per epoch (loss, val_loss, val_<name>) the value at its last epoch, as a sweep judges a trial."""
    kind, _, name = field.partition(".")
    document = Experiment.metrics if kind == "metric" else Experiment.config
    value = _json_value(field).as_float()
    if dialect == "postgresql":
        number = case((func.json_typeof(document[name]) == "number", value))
    else:
        number = case((func.json_type(document, f'$."{name}"').in_(["integer", "real"]), value))
    return func.coalesce(number, _last_epoch(name, dialect)) if kind == "metric" else number


def metric_value(experiment: Experiment, name: str) -> float | None:
    """What `metric.<name>` filters and sorts by, for one run: its test metric, else its last epoch's value."""
    for value in [experiment.metrics.get(name), ((experiment.history or {}).get(name) or [None])[-1]]:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _last_epoch(name: str, dialect: str) -> ColumnElement[Any]:
    """The last value of the metric's per-epoch list in history, where it is a number, else NULL."""
    if dialect == "postgresql":
        last = Experiment.history.op("->", return_type=JSON)(literal(name, String)).op("->", return_type=JSON)(
            literal(-1, Integer)
        )  # a negative index counts from the end
        return case((func.json_typeof(last) == "number", cast(cast(last, Text), Float)))
    path = f'$."{name}"[#-1]'
    return case(
        (func.json_type(Experiment.history, path).in_(["integer", "real"]), func.json_extract(Experiment.history, path))
    )


def _sort_key(key: str, dialect: str) -> ColumnElement[Any]:
    if key in COLUMN_SORTS:
        column: ColumnElement[Any] = getattr(Experiment, key)
        return column
    if re.fullmatch(_FIELD, key) is None:
        raise ValueError(f"cannot sort by {key[:100]!r}; sort by {', '.join(COLUMN_SORTS)}, metric.<name> or "
                         "config.<field>")  # fmt: skip
    return _number(key, dialect)


def _after(column: ColumnElement[Any], descending: bool, value: Any, last_id: str) -> ColumnElement[bool]:
    """The rows after (value, last_id) in the order (column asc or desc, nulls last), (id asc)."""
    if value is None:
        return and_(column.is_(None), Experiment.id > last_id)
    beyond = column < value if descending else column > value
    return or_(beyond, and_(column == value, Experiment.id > last_id), column.is_(None))


def _make_cursor(key: str, value: Any, last_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(json.dumps([key, value, last_id]).encode()).decode()


def _read_cursor(cursor: str, key: str) -> tuple[Any, str]:
    try:
        stored_key, value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if stored_key != key or not isinstance(last_id, str):
            raise ValueError
        if key.endswith("_at") and value is not None:
            value = datetime.fromisoformat(value)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError(
            "cursor was not made by a list sorted this way; send the next_cursor of the previous page, "
            "with the same sort, or leave it out for the first page"
        ) from None
    return value, last_id


def transition(
    session: Session,
    experiment_id: str,
    from_statuses: Collection[ExperimentStatus],
    to_status: ExperimentStatus,
    **fields: Any,
) -> bool:
    """Moves the experiment to `to_status` only if it is in one of `from_statuses`, stamping started_at or
    finished_at; commits and returns whether this call made the change."""
    values: dict[str, Any] = {"status": to_status, **fields}
    if to_status == "running":
        values["started_at"] = utcnow()
    if to_status in TERMINAL_STATUSES:
        values["finished_at"] = utcnow()
    result = session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status.in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def transition_lost(
    session: Session, experiment_id: str, lost_error: str, to_status: ExperimentStatus, **fields: Any
) -> bool:
    """Moves a run failed with `lost_error` to `to_status` (see lifecycle.end_lost_run); commits; returns whether
    it did."""
    result = session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "failed", Experiment.error == lost_error)
        .values(status=to_status, **{"error": None, **fields})
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_progress(session: Session, experiment_id: str, epoch: int, total_epochs: int) -> None:
    session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "running")
        .values(progress={"epoch": epoch, "total_epochs": total_epochs})
        .execution_options(synchronize_session=False)
    )
    session.commit()


def update_experiment(
    session: Session, experiment: Experiment, name: str | None, tags: Sequence[str] | None, notes: str | None
) -> None:
    """Changes what is given (None leaves a field as it is); commits."""
    if name is not None:
        experiment.name = name
    if tags is not None:
        experiment.tags = list(tags)
    if notes is not None:
        experiment.notes = notes
    session.commit()


def running_experiment_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Experiment.id).where(Experiment.status == "running")))


def delete_experiment(session: Session, experiment_id: str) -> None:
    """Deletes the record; its tags and idempotency key go with it (ON DELETE CASCADE)."""
    session.execute(delete(Experiment).where(Experiment.id == experiment_id))
    session.commit()

"""Reading and changing experiment records. Every status change is one conditional UPDATE, so the API, the
worker and the reaper can race for the same experiment and exactly one of them wins."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from azuraforge_common import names
from azuraforge_common.events import TERMINAL_STATUSES, ExperimentStatus
from azuraforge_common.models import Experiment, ExperimentTag, IdempotencyKey, new_id, utcnow

SortField = Literal[
    "created_at", "-created_at", "started_at", "-started_at", "finished_at", "-finished_at", "name", "-name",
    "app", "-app", "status", "-status",
]  # fmt: skip
SORT_FIELDS: tuple[str, ...] = get_args(SortField)


@dataclass(frozen=True)
class NewExperiment:
    app: str
    config: dict[str, Any]
    name: str = ""
    tags: tuple[str, ...] = ()
    queue: str = names.DEFAULT_QUEUE


@dataclass(frozen=True)
class ExperimentFilter:
    app: str | None = None
    status: ExperimentStatus | None = None
    tag: str | None = None
    batch_id: str | None = None


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
            id=new_id(), app=spec.app, name=spec.name, config=spec.config, batch_id=batch_id, queue=spec.queue
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


def list_experiments(
    session: Session, where: ExperimentFilter, sort: SortField = "-created_at", limit: int = 50, offset: int = 0
) -> tuple[Sequence[Experiment], int]:
    """One page of experiments and how many match in all."""
    query = select(Experiment)
    if where.app is not None:
        query = query.where(Experiment.app == where.app)
    if where.status is not None:
        query = query.where(Experiment.status == where.status)
    if where.batch_id is not None:
        query = query.where(Experiment.batch_id == where.batch_id)
    if where.tag is not None:
        query = query.where(Experiment.tag_rows.any(ExperimentTag.tag == where.tag))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = getattr(Experiment, sort.lstrip("-"))
    order = column.desc() if sort.startswith("-") else column.asc()
    # id breaks ties so that pages never overlap or skip rows.
    page = session.scalars(query.order_by(order, Experiment.id).limit(limit).offset(offset)).all()
    return page, total


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


def running_experiment_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Experiment.id).where(Experiment.status == "running")))


def delete_experiment(session: Session, experiment_id: str) -> None:
    """Deletes the record; its tags and idempotency key go with it (ON DELETE CASCADE)."""
    session.execute(delete(Experiment).where(Experiment.id == experiment_id))
    session.commit()

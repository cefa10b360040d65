"""Datasets users upload (azuraforge_common.datasets checks and keeps them): what the routes do, and the check that
a run's dataset_id names a dataset of its project, of a kind its app trains on."""

import hashlib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azuraforge_api.accounts import audit
from azuraforge_api.auth import Caller
from azuraforge_common.artifacts import ArtifactStore
from azuraforge_common.datasets import (
    DatasetError,
    DatasetKind,
    dataset_key,
    dataset_prefix,
    missing_columns,
    summarize,
)
from azuraforge_common.models import DATASET_ID_FIELD, Dataset, Experiment
from azuraforge_learner.config import excerpt
from azuraforge_learner.datasets import DatasetSpec

RUNS_NAMED = 10
"""A refused delete names at most this many of the runs that used the dataset."""


def no_dataset(dataset_id: str) -> str:
    return f"no dataset {excerpt(dataset_id)}; GET /api/v1/datasets lists yours"


def listed(session: Session, projects: Collection[str] | None, kind: DatasetKind | None) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id)
    if projects is not None:
        query = query.where(Dataset.project_id.in_(projects))
    if kind is not None:
        query = query.where(Dataset.kind == kind)
    return list(session.scalars(query))


def upload(
    session: Session, store: ArtifactStore, caller: Caller, project_id: str, name: str, kind: DatasetKind, data: bytes
) -> tuple[Dataset, bool]:
    """The dataset of these bytes in the project, and whether it is new: bytes already uploaded there answer the
    existing version (kept once, under its first name)."""
    try:
        summary = summarize(kind, data)
    except DatasetError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"file: {exc}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    if (existing := _version(session, project_id, sha256)) is not None:
        return existing, False
    store.write(dataset_key(project_id, sha256, kind), data)  # first: a row never names a missing object
    dataset = Dataset(
        project_id=project_id,
        name=name,
        kind=kind,
        sha256=sha256,
        size=len(data),
        summary=summary,
        created_by=caller.name,
    )
    session.add(dataset)
    audit(session, caller.name, "dataset.upload", name, project_id=project_id, ip=caller.ip, sha256=sha256)
    try:
        session.commit()
    except IntegrityError:  # the same bytes, uploaded twice at once: the other request stored the row
        session.rollback()
        if (existing := _version(session, project_id, sha256)) is None:
            raise
        return existing, False
    return dataset, True


def _version(session: Session, project_id: str, sha256: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.project_id == project_id, Dataset.sha256 == sha256))


def delete(session: Session, store: ArtifactStore, caller: Caller, dataset: Dataset) -> None:
    """Removes the dataset and its file; 409 naming the runs that used it while any is kept (their provenance
    names this version, so it stays until they are deleted)."""
    users = session.execute(
        select(Experiment.id, Experiment.name)
        .where(Experiment.dataset_id == dataset.id)
        .order_by(Experiment.created_at)
        .limit(RUNS_NAMED + 1)
    ).all()
    if users:
        named = ", ".join(f"{run_id} ({name})" if name else run_id for run_id, name in users[:RUNS_NAMED])
        more = " and more" if len(users) > RUNS_NAMED else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"dataset {dataset.name!r} is used by runs {named}{more}; delete those runs first, whose records "
            "name this version",
        )
    project_id, sha256, name = dataset.project_id, dataset.sha256, dataset.name
    session.delete(dataset)
    audit(session, caller.name, "dataset.delete", name, project_id=project_id, ip=caller.ip, sha256=sha256)
    session.commit()
    store.delete(dataset_prefix(project_id, sha256))


def check_configs(
    session: Session, project_id: str, app: Mapping[str, Any], configs: Iterable[Mapping[str, Any]]
) -> None:
    """422 on config.dataset_id unless it names a dataset of the project that the app trains on (a CSV with
    every column the app needs)."""
    wanted = {config.get(DATASET_ID_FIELD) for config in configs} - {None}
    for dataset_id in sorted(str(value) for value in wanted):
        dataset = session.get(Dataset, dataset_id)
        problem = None
        specs = [DatasetSpec.model_validate(spec) for spec in app.get("datasets", [])]
        spec = next((spec for spec in specs if dataset and spec.kind == dataset.kind), None)
        if dataset is None or dataset.project_id != project_id:
            problem = f"no dataset {dataset_id} in project {project_id!r}; GET /api/v1/datasets lists them"
        elif spec is None:
            kinds = ", ".join(spec.kind for spec in specs) or "none"
            problem = f"dataset {dataset.name!r} is of kind {dataset.kind}; app {app['name']} takes: {kinds}"
        elif spec.kind == "csv" and (missing := missing_columns(dataset.summary, spec.columns)):
            problem = (
                f"dataset {dataset.name!r} lacks column(s) {', '.join(missing)}; app {app['name']} needs "
                f"{', '.join(spec.columns)}"
            )
        if problem is not None:
            loc = ("body", "config", DATASET_ID_FIELD)
            raise RequestValidationError([{"loc": loc, "msg": problem, "type": "value_error"}])

"""The model registry: names, versions (a succeeded run's model, copied into the registry's store), aliases with
their audit trail, and `models:/...` URIs. Routes in azuraforge_api.routes.models call these.

Failures a client can act on are HTTPExceptions naming what to do next, as in azuraforge_api.services."""

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azuraforge_api import services
from azuraforge_api.files import served_file
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import (
    AliasEventOut,
    AliasOut,
    ModelOut,
    ModelSummary,
    ModelUpdate,
    ModelVersionOut,
    VersionCreate,
)
from azuraforge_common.models import (
    Experiment,
    ModelAlias,
    ModelAliasEvent,
    ModelVersion,
    RegisteredModel,
    new_id,
    utcnow,
)
from azuraforge_common.serving import ModelRef
from azuraforge_learner.artifacts import read_json
from azuraforge_learner.config import excerpt
from azuraforge_learner.pipeline import MODEL_FILE, WEIGHTS_FILE
from azuraforge_learner.record import RunResult
from azuraforge_learner.serving import CONTRACTS, SAVED_MODEL_FILES, describe

DEFAULT_PROJECT = "default"
URI_PATTERN = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[1-9][0-9]{0,8})|@(?P<alias>[^/@]+))$")


# ----- names, versions, aliases ------------------------------------------------------------------------------
def _named(name: str) -> ColumnElement[bool]:
    return and_(RegisteredModel.project_id == DEFAULT_PROJECT, RegisteredModel.name == name)


def get_model(session: Session, name: str) -> RegisteredModel:
    model = session.scalars(select(RegisteredModel).where(_named(name))).one_or_none()
    if model is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no model named {excerpt(name)}; register one with POST /api/v1/models/{{name}}/versions",
        )
    return model


def get_version(session: Session, name: str, version: int) -> ModelVersion:
    found = session.scalars(
        select(ModelVersion).join(RegisteredModel).where(_named(name), ModelVersion.version == version)
    ).one_or_none()
    if found is None:
        existing = ", ".join(str(v.version) for v in get_model(session, name).versions) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"model {name} has no version {version}; its versions: {existing}"
        )
    return found


def get_aliased(session: Session, name: str, alias: str) -> ModelVersion:
    found = session.scalars(
        select(ModelVersion)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .join(RegisteredModel, RegisteredModel.id == ModelAlias.model_id)
        .where(_named(name), ModelAlias.alias == alias)
    ).one_or_none()
    if found is None:
        existing = ", ".join(a.alias for a in get_model(session, name).aliases) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"model {name} has no alias {excerpt(alias)}; its aliases: {existing}"
        )
    return found


def resolve(session: Session, uri: str) -> ModelVersion:
    """The version `models:/name/3` or `models:/name@alias` names; 404 for a URI of another form."""
    match = URI_PATTERN.match(uri)
    if match is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"{excerpt(uri)} names no model version; write models:/<name>/<version> or models:/<name>@<alias>",
        )
    if match["alias"] is not None:
        return get_aliased(session, match["name"], match["alias"])
    return get_version(session, match["name"], int(match["version"]))


def list_models(session: Session) -> list[ModelSummary]:
    models = session.scalars(
        select(RegisteredModel).where(RegisteredModel.project_id == DEFAULT_PROJECT).order_by(RegisteredModel.name)
    ).all()
    return [_summary(model) for model in models]


def register(platform: Platform, session: Session, name: str, body: VersionCreate, actor: str) -> ModelVersionOut:
    """The run's model as the name's next version: its files are copied into the registry's store first, so the
    row never points at a half-written folder."""
    experiment = services.get(session, body.experiment_id)
    if experiment.status != "succeeded":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"experiment {experiment.id} is {experiment.status}; only succeeded runs can be registered",
        )
    source = platform.settings.experiment_dir(experiment.id)
    if served_file(source, WEIGHTS_FILE) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment.id} saved no model ({WEIGHTS_FILE}); nothing to register"
        )
    version_id = new_id()
    target = platform.settings.model_version_dir(version_id)
    sha256 = _copy_model(source, target)
    try:
        version = _insert_version(session, name, experiment, body, version_id, sha256, _task(target), actor)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return version_out(session, version)


def update_model(session: Session, name: str, body: ModelUpdate) -> ModelOut:
    model = get_model(session, name)
    _apply(model, body)
    session.commit()
    session.expire_all()
    return model_out(session, model)


def update_version(session: Session, name: str, version: int, body: ModelUpdate) -> ModelVersionOut:
    found = get_version(session, name, version)
    _apply(found, body)
    session.commit()
    session.expire_all()
    return version_out(session, found)


def delete_version(platform: Platform, session: Session, name: str, version: int) -> None:
    found = get_version(session, name, version)
    aliases = [alias.alias for alias in found.model.aliases if alias.version_id == found.id]
    if aliases:
        listed = ", ".join(aliases)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"version {version} of {name} is aliased as {listed}; move those aliases to another version "
            f"(PUT .../aliases/{aliases[0]}) or delete them first",
        )
    session.delete(found)
    session.commit()
    shutil.rmtree(platform.settings.model_version_dir(found.id), ignore_errors=True)


def set_alias(session: Session, name: str, alias: str, version: int, actor: str) -> AliasOut:
    """Points `alias` at `version` (creating it, or moving it), recorded in the audit trail."""
    target = get_version(session, name, version)
    model = target.model
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        current = ModelAlias(model_id=model.id, alias=alias, version_id=target.id, version=version, updated_by=actor)
        session.add(current)
        session.add(ModelAliasEvent(model_id=model.id, alias=alias, from_version=None, to_version=version, by=actor))
    elif current.version != version:
        session.add(
            ModelAliasEvent(model_id=model.id, alias=alias, from_version=current.version, to_version=version, by=actor)
        )
        current.version_id, current.version, current.updated_by = target.id, version, actor
        current.updated_at = utcnow()
    session.commit()
    session.expire_all()
    return AliasOut.model_validate(current, from_attributes=True)


def delete_alias(session: Session, name: str, alias: str, actor: str) -> None:
    model = get_model(session, name)
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {name} has no alias {excerpt(alias)}")
    session.add(
        ModelAliasEvent(model_id=model.id, alias=alias, from_version=current.version, to_version=None, by=actor)
    )
    session.delete(current)
    session.commit()


def checked_input(version: ModelVersion, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` if it fits the version's input contract; 422 naming each wrong field otherwise. (Whether it fits
    the model itself, its shape or length, the model server says.)"""
    contract = CONTRACTS.get(version.task or "")
    if contract is not None:
        try:
            contract[0].model_validate(payload)
        except ValidationError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(exc)) from None
    return payload


def serving_ref(version: ModelVersion) -> ModelRef:
    return ModelRef(source="registry", id=version.id, app=version.app, weights_sha256=version.weights_sha256)


# ----- answers --------------------------------------------------------------------------------------------
def model_out(session: Session, model: RegisteredModel) -> ModelOut:
    events = session.scalars(
        select(ModelAliasEvent).where(ModelAliasEvent.model_id == model.id).order_by(ModelAliasEvent.id.desc())
    ).all()
    versions = _versions_out(session, list(reversed(model.versions)))
    return ModelOut(
        **_summary(model).model_dump(),
        version_list=versions,
        alias_history=[AliasEventOut.model_validate(event, from_attributes=True) for event in events],
    )


def version_out(session: Session, version: ModelVersion) -> ModelVersionOut:
    return _versions_out(session, [version])[0]


def _versions_out(session: Session, versions: Sequence[ModelVersion]) -> list[ModelVersionOut]:
    ids = {version.experiment_id for version in versions}
    existing = set(session.scalars(select(Experiment.id).where(Experiment.id.in_(ids)))) if ids else set()
    answers = []
    for version in versions:
        contract = CONTRACTS.get(version.task or "")
        answers.append(
            ModelVersionOut(
                name=version.model.name,
                version=version.version,
                uri=f"models:/{version.model.name}/{version.version}",
                aliases=[alias.alias for alias in version.model.aliases if alias.version_id == version.id],
                experiment_id=version.experiment_id,
                source_run_exists=version.experiment_id in existing,
                app=version.app,
                app_version=version.app_version,
                task=version.task,
                config=version.config,
                metrics=version.metrics,
                result=RunResult.model_validate(version.run_result) if version.run_result else None,
                weights_sha256=version.weights_sha256,
                description=version.description,
                tags=version.tags,
                created_at=version.created_at,
                created_by=version.created_by,
                input_schema=contract[0].model_json_schema() if contract else None,
                output_schema=contract[1].model_json_schema(mode="serialization") if contract else None,
            )
        )
    return answers


def _summary(model: RegisteredModel) -> ModelSummary:
    return ModelSummary(
        name=model.name,
        description=model.description,
        tags=model.tags,
        created_at=model.created_at,
        created_by=model.created_by,
        latest_version=model.versions[-1].version if model.versions else None,
        versions=len(model.versions),
        aliases=[AliasOut.model_validate(alias, from_attributes=True) for alias in model.aliases],
    )


# ----- helpers --------------------------------------------------------------------------------------------
def _insert_version(
    session: Session,
    name: str,
    experiment: Experiment,
    body: VersionCreate,
    version_id: str,
    sha256: str,
    task: str | None,
    actor: str,
) -> ModelVersion:
    result = RunResult.model_validate(experiment.result) if experiment.result else None
    for attempt in range(3):
        model = session.scalars(select(RegisteredModel).where(_named(name))).one_or_none()
        if model is None:
            model = RegisteredModel(project_id=DEFAULT_PROJECT, name=name, created_by=actor, tags=[])
            session.add(model)
            session.flush()
        number = (
            session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)) or 0
        ) + 1
        version = ModelVersion(
            id=version_id,
            model_id=model.id,
            version=number,
            experiment_id=experiment.id,
            app=experiment.app,
            app_version=result.provenance.app_version if result else None,
            task=task,
            config=experiment.config,
            metrics=result.metrics if result else experiment.metrics,
            run_result=experiment.result or {},
            weights_sha256=sha256,
            description=body.description,
            tags=list(body.tags),
            created_by=actor,
        )
        session.add(version)
        try:
            session.commit()
            session.expire_all()
            return version
        except IntegrityError:
            # Another registration took this name or number at the same moment: count again.
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _copy_model(source: Path, target: Path) -> str:
    """Copies what predicting needs into `target` (all or nothing) and returns the weights' sha256."""
    staging = target.with_name(f".{target.name}.partial")
    staging.mkdir(parents=True)
    try:
        for name in SAVED_MODEL_FILES:
            if (file := served_file(source, name)) is not None:
                shutil.copyfile(file, staging / name)
        digest = hashlib.sha256()
        with open(staging / WEIGHTS_FILE, "rb") as weights:
            while chunk := weights.read(1 << 20):
                digest.update(chunk)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return digest.hexdigest()


def _task(directory: Path) -> str | None:
    saved = served_file(directory, MODEL_FILE)
    if saved is None:
        return None
    task = read_json(saved).get("task")
    return task if isinstance(task, str) else None


def _apply(target: RegisteredModel | ModelVersion, body: ModelUpdate) -> None:
    if body.description is not None:
        target.description = body.description
    if body.tags is not None:
        target.tags = list(body.tags)

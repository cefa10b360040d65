"""The model registry: names, versions (a succeeded run's model, copied into the registry's store), aliases with
their audit trail, and `models:/...` URIs. Routes in azuraforge_api.routes.models call these.

Failures a client can act on are HTTPExceptions naming what to do next, as in azuraforge_api.services."""

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azuraforge_api import services
from azuraforge_api.accounts import Role, audit
from azuraforge_api.auth import Caller
from azuraforge_api.files import has_artifact
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
from azuraforge_common.artifacts import ArtifactStore, model_key, run_key
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
from azuraforge_learner.config import excerpt
from azuraforge_learner.pipeline import MODEL_FILE, WEIGHTS_FILE
from azuraforge_learner.record import RunResult
from azuraforge_learner.serving import CONTRACTS, SAVED_MODEL_FILES, describe

URI_PATTERN = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[1-9][0-9]{0,8})|@(?P<alias>[^/@]+))$")


# ----- names, versions, aliases ------------------------------------------------------------------------------
# A name is unique within a project. Routes find it among the projects the caller may see, or in the one its
# `project` query parameter names; a model of a project the caller cannot see is missing (404), never forbidden.
def _in_sight(session: Session, caller: Caller, name: str, project: str | None) -> Sequence[RegisteredModel]:
    query = select(RegisteredModel).where(RegisteredModel.name == name).order_by(RegisteredModel.project_id)
    if project is not None:
        query = query.where(RegisteredModel.project_id == project)
    if (projects := caller.visible_projects()) is not None:
        query = query.where(RegisteredModel.project_id.in_(projects))
    return session.scalars(query).all()


def get_model(session: Session, caller: Caller, name: str, role: Role, project: str | None = None) -> RegisteredModel:
    """The model named `name` the caller may act on with `role`: 404 if it sees none, 403 if its role is short."""
    found = _in_sight(session, caller, name, project)
    where = f" in project {excerpt(project)}" if project is not None else ""
    missing = f"no model named {excerpt(name)}{where}; register one with POST /api/v1/models/{{name}}/versions"
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    if len(found) > 1:
        listed = ", ".join(model.project_id for model in found)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"projects {listed} each have a model named {excerpt(name)}; name one with ?project=<project id>",
        )
    caller.require(found[0].project_id, role, missing)
    return found[0]


def get_version(
    session: Session, caller: Caller, name: str, version: int, role: Role, project: str | None = None
) -> ModelVersion:
    model = get_model(session, caller, name, role, project)
    found = next((each for each in model.versions if each.version == version), None)
    if found is None:
        existing = ", ".join(str(each.version) for each in model.versions) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"model {name} has no version {version}; its versions: {existing}"
        )
    return found


def get_aliased(
    session: Session, caller: Caller, name: str, alias: str, role: Role, project: str | None = None
) -> ModelVersion:
    model = get_model(session, caller, name, role, project)
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        existing = ", ".join(each.alias for each in model.aliases) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"model {name} has no alias {excerpt(alias)}; its aliases: {existing}"
        )
    return session.get_one(ModelVersion, current.version_id)


def resolve(session: Session, caller: Caller, uri: str, project: str | None = None) -> ModelVersion:
    """The version `models:/name/3` or `models:/name@alias` names; 404 for a URI of another form."""
    match = URI_PATTERN.match(uri)
    if match is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"{excerpt(uri)} names no model version; write models:/<name>/<version> or models:/<name>@<alias>",
        )
    if match["alias"] is not None:
        return get_aliased(session, caller, match["name"], match["alias"], "viewer", project)
    return get_version(session, caller, match["name"], int(match["version"]), "viewer", project)


def list_models(session: Session, caller: Caller, project: str | None = None) -> list[ModelSummary]:
    query = select(RegisteredModel).order_by(RegisteredModel.name, RegisteredModel.project_id)
    if project is not None:
        query = query.where(RegisteredModel.project_id == project)
    if (projects := caller.visible_projects()) is not None:
        query = query.where(RegisteredModel.project_id.in_(projects))
    return [_summary(model) for model in session.scalars(query).all()]


def register(platform: Platform, session: Session, caller: Caller, name: str, body: VersionCreate) -> ModelVersionOut:
    """The run's model as the name's next version, in the run's project (editors of it may register): its files
    are copied into the registry's store first, so the row never points at a half-written folder."""
    experiment = caller.record(
        services.get(session, body.experiment_id), "editor", f"no experiment {excerpt(body.experiment_id)}"
    )
    if experiment.status != "succeeded":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"experiment {experiment.id} is {experiment.status}; only succeeded runs can be registered",
        )
    # A name the caller sees only in other projects would become two models it must tell apart by project.
    elsewhere = {model.project_id for model in _in_sight(session, caller, name, None)}
    if elsewhere and experiment.project_id not in elsewhere:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"model {name} is in project {', '.join(sorted(elsewhere))} and experiment {experiment.id} in project "
            f"{experiment.project_id}; a model's versions come from runs of its own project: register the run "
            "under another name",
        )
    if not has_artifact(platform, experiment.id, WEIGHTS_FILE):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"experiment {experiment.id} saved no model ({WEIGHTS_FILE}); nothing to register"
        )
    version_id = new_id()
    artifacts = platform.artifacts
    try:
        sha256 = _copy_model(artifacts, experiment.id, version_id)
        task = _task(artifacts, version_id)
        version = _insert_version(session, name, experiment, body, version_id, sha256, task, caller.name)
    except BaseException:
        artifacts.delete(model_key(version_id))
        raise
    return version_out(session, version)


def update_model(session: Session, caller: Caller, name: str, body: ModelUpdate, project: str | None) -> ModelOut:
    model = get_model(session, caller, name, "editor", project)
    _apply(model, body)
    session.commit()
    session.expire_all()
    return model_out(session, model)


def update_version(
    session: Session, caller: Caller, name: str, version: int, body: ModelUpdate, project: str | None
) -> ModelVersionOut:
    found = get_version(session, caller, name, version, "editor", project)
    _apply(found, body)
    session.commit()
    session.expire_all()
    return version_out(session, found)


def delete_version(
    platform: Platform, session: Session, caller: Caller, name: str, version: int, project: str | None
) -> None:
    found = get_version(session, caller, name, version, "editor", project)
    aliases = [alias.alias for alias in found.model.aliases if alias.version_id == found.id]
    if aliases:
        listed = ", ".join(aliases)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"version {version} of {name} is aliased as {listed}; move those aliases to another version "
            f"(PUT .../aliases/{aliases[0]}) or delete them first",
        )
    project_id = found.model.project_id
    session.delete(found)
    audit(session, caller.name, "model.version.delete", f"{name}/{version}", project_id=project_id, ip=caller.ip)
    session.commit()
    platform.artifacts.delete(model_key(found.id))


def set_alias(session: Session, caller: Caller, name: str, alias: str, version: int, project: str | None) -> AliasOut:
    """Points `alias` at `version` (creating it, or moving it), recorded in the audit trail."""
    target = get_version(session, caller, name, version, "editor", project)
    model, actor = target.model, caller.name
    current = session.get(ModelAlias, (model.id, alias))
    before = current.version if current is not None else None
    if current is None:
        current = ModelAlias(model_id=model.id, alias=alias, version_id=target.id, version=version, updated_by=actor)
        session.add(current)
    elif current.version != version:
        current.version_id, current.version, current.updated_by = target.id, version, actor
        current.updated_at = utcnow()
    if before != version:
        session.add(ModelAliasEvent(model_id=model.id, alias=alias, from_version=before, to_version=version, by=actor))
        audit(
            session,
            actor,
            "model.alias.set",
            f"{name}@{alias}",
            project_id=model.project_id,
            ip=caller.ip,
            before=before,
            version=version,
        )
    session.commit()
    session.expire_all()
    return AliasOut.model_validate(current, from_attributes=True)


def delete_alias(session: Session, caller: Caller, name: str, alias: str, project: str | None) -> None:
    model = get_model(session, caller, name, "editor", project)
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {name} has no alias {excerpt(alias)}")
    session.add(
        ModelAliasEvent(model_id=model.id, alias=alias, from_version=current.version, to_version=None, by=caller.name)
    )
    audit(
        session,
        caller.name,
        "model.alias.delete",
        f"{name}@{alias}",
        project_id=model.project_id,
        ip=caller.ip,
        before=current.version,
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
        project_id=model.project_id,
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
        model = session.scalars(
            select(RegisteredModel).where(
                RegisteredModel.project_id == experiment.project_id, RegisteredModel.name == name
            )
        ).one_or_none()
        if model is None:
            model = RegisteredModel(project_id=experiment.project_id, name=name, created_by=actor, tags=[])
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


def _copy_model(artifacts: ArtifactStore, experiment_id: str, version_id: str) -> str:
    """Copies what predicting needs from the run's files to the version's, within the store, and returns the
    weights' sha256 (of the copy). The caller removes a partial copy; a version without its row is never read."""
    for name in SAVED_MODEL_FILES:
        artifacts.copy(run_key(experiment_id, name), model_key(version_id, name))
    weights = artifacts.open(model_key(version_id, WEIGHTS_FILE))
    if weights is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"experiment {experiment_id} lost its model while registering")
    digest = hashlib.sha256()
    for chunk in weights.chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _task(artifacts: ArtifactStore, version_id: str) -> str | None:
    saved = artifacts.read(model_key(version_id, MODEL_FILE))
    if saved is None:
        return None
    task = json.loads(saved).get("task")
    return task if isinstance(task, str) else None


def _apply(target: RegisteredModel | ModelVersion, body: ModelUpdate) -> None:
    if body.description is not None:
        target.description = body.description
    if body.tags is not None:
        target.tags = list(body.tags)

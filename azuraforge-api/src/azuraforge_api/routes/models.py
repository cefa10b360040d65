from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import registry, services
from azuraforge_api.auth import CallerDep
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.platform import Platform
from azuraforge_api.schemas import (
    AliasName,
    AliasOut,
    AliasSet,
    ModelName,
    ModelOut,
    ModelSummary,
    ModelUpdate,
    ModelVersionOut,
    VersionCreate,
    VersionNumber,
)
from azuraforge_api.uploads import prediction_input
from azuraforge_common.models import ModelVersion
from azuraforge_learner.config import excerpt
from azuraforge_learner.serving import ClassificationOutput, ForecastOutput

router = APIRouter(prefix="/api/v1/models", tags=["models"])

PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The app's input (the version's input_schema): JSON, or an image file as multipart field "
        "'image'.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ForecastInput"},
                        {"$ref": "#/components/schemas/ImageInput"},
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "binary"}},
                    "required": ["image"],
                }
            },
        },
    }
}
PREDICT_ERRORS = errors(404, 409, 422, 500)
Prediction = ForecastOutput | ClassificationOutput


ProjectQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="The model's project; without it the name is looked up in every project the caller may see "
        "(409 if several of them have it).",
    ),
]


@router.get("")
def list_models(session: SessionDep, caller: CallerDep, project: ProjectQuery = None) -> list[ModelSummary]:
    """Registered models of the projects the caller may see (or of `project`), with latest version and aliases."""
    return registry.list_models(session, caller, project)


@router.get("/resolve", responses=errors(404, 409))
def resolve_uri(
    uri: Annotated[str, Query(max_length=300)], session: SessionDep, caller: CallerDep, project: ProjectQuery = None
) -> ModelVersionOut:
    """The version a URI names: models:/<name>/<version> or models:/<name>@<alias>."""
    return registry.version_out(session, registry.resolve(session, caller, uri, project))


@router.get("/{name}", responses=errors(404, 409))
def get_model(name: str, session: SessionDep, caller: CallerDep, project: ProjectQuery = None) -> ModelOut:
    """A model with every version (newest first), its aliases and their audit trail."""
    return registry.model_out(session, registry.get_model(session, caller, name, "viewer", project))


@router.patch("/{name}", responses=errors(404, 409))
def update_model(
    name: str, body: ModelUpdate, session: SessionDep, caller: CallerDep, project: ProjectQuery = None
) -> ModelOut:
    """Change the model's description or tags (editors of its project)."""
    return registry.update_model(session, caller, name, body, project)


@router.post("/{name}/versions", status_code=status.HTTP_201_CREATED, responses=errors(404, 409))
def register_version(
    name: ModelName, body: VersionCreate, platform: PlatformDep, session: SessionDep, caller: CallerDep
) -> ModelVersionOut:
    """Register a succeeded run's model as the name's next version, in the run's project (editors of it may; the
    name is created there with its first version). The model's files are copied into the registry, so deleting
    the run keeps the version whole."""
    return registry.register(platform, session, caller, name, body)


@router.get("/{name}/versions/{version}", responses=errors(404, 409))
def get_version(
    name: str, version: VersionNumber, session: SessionDep, caller: CallerDep, project: ProjectQuery = None
) -> ModelVersionOut:
    return registry.version_out(session, registry.get_version(session, caller, name, version, "viewer", project))


@router.patch("/{name}/versions/{version}", responses=errors(404, 409))
def update_version(
    name: str,
    version: VersionNumber,
    body: ModelUpdate,
    session: SessionDep,
    caller: CallerDep,
    project: ProjectQuery = None,
) -> ModelVersionOut:
    """Change the version's description or tags (editors of its project)."""
    return registry.update_version(session, caller, name, version, body, project)


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_version(
    name: str,
    version: VersionNumber,
    platform: PlatformDep,
    session: SessionDep,
    caller: CallerDep,
    project: ProjectQuery = None,
) -> Response:
    """Delete a version and its files (editors of its project); refused (409) while an alias points at it."""
    registry.delete_version(platform, session, caller, name, version, project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{name}/aliases/{alias}", responses=errors(404, 409))
def set_alias(
    name: str,
    alias: AliasName,
    body: AliasSet,
    session: SessionDep,
    caller: CallerDep,
    project: ProjectQuery = None,
) -> AliasOut:
    """Point an alias (production, staging, ...) at a version, creating or moving it (editors of its project);
    every change is kept in the model's alias_history and the audit log."""
    return registry.set_alias(session, caller, name, alias, body.version, project)


@router.delete("/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_alias(
    name: str, alias: str, session: SessionDep, caller: CallerDep, project: ProjectQuery = None
) -> Response:
    registry.delete_alias(session, caller, name, alias, project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{reference}/predict", response_model=Prediction, responses=PREDICT_ERRORS, openapi_extra=PREDICT_BODY)
async def predict_by_alias(
    reference: str, request: Request, platform: PlatformDep, caller: CallerDep, project: ProjectQuery = None
) -> dict[str, Any]:
    """Predict with the version an alias names: POST /api/v1/models/<name>@<alias>/predict (viewers may)."""
    name, at, alias = reference.partition("@")
    if not at:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"name a version: /api/v1/models/{excerpt(name)}@<alias>/predict or "
            f"/api/v1/models/{excerpt(name)}/versions/<version>/predict",
        )
    payload = await prediction_input(request)
    version = await _find(
        platform, lambda session: registry.get_aliased(session, caller, name, alias, "viewer", project)
    )
    return await services.predict(platform, registry.serving_ref(version), registry.checked_input(version, payload))


@router.post(
    "/{name}/versions/{version}/predict",
    response_model=Prediction,
    responses=PREDICT_ERRORS,
    openapi_extra=PREDICT_BODY,
)
async def predict_with_version(
    name: str,
    version: VersionNumber,
    request: Request,
    platform: PlatformDep,
    caller: CallerDep,
    project: ProjectQuery = None,
) -> dict[str, Any]:
    """Predict with one version of a model (viewers may)."""
    payload = await prediction_input(request)
    found = await _find(
        platform, lambda session: registry.get_version(session, caller, name, version, "viewer", project)
    )
    return await services.predict(platform, registry.serving_ref(found), registry.checked_input(found, payload))


async def _find(platform: Platform, lookup: Callable[[Session], ModelVersion]) -> ModelVersion:
    """The version, read in a session of its own that is closed before the prediction is waited for."""

    def read() -> ModelVersion:
        with platform.sessions() as session:
            return lookup(session)

    return await run_in_threadpool(read)

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api import registry, services
from azuraforge_api.deps import ActorDep, PlatformDep, SessionDep
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


@router.get("")
def list_models(session: SessionDep) -> list[ModelSummary]:
    """Registered model names with their latest version and aliases."""
    return registry.list_models(session)


@router.get("/resolve", responses=errors(404))
def resolve_uri(uri: Annotated[str, Query(max_length=300)], session: SessionDep) -> ModelVersionOut:
    """The version a URI names: models:/<name>/<version> or models:/<name>@<alias>."""
    return registry.version_out(session, registry.resolve(session, uri))


@router.get("/{name}", responses=errors(404))
def get_model(name: str, session: SessionDep) -> ModelOut:
    """A model with every version (newest first), its aliases and their audit trail."""
    return registry.model_out(session, registry.get_model(session, name))


@router.patch("/{name}", responses=errors(404))
def update_model(name: str, body: ModelUpdate, session: SessionDep) -> ModelOut:
    """Change the model's description or tags."""
    return registry.update_model(session, name, body)


@router.post("/{name}/versions", status_code=status.HTTP_201_CREATED, responses=errors(404, 409))
def register_version(
    name: ModelName, body: VersionCreate, platform: PlatformDep, session: SessionDep, actor: ActorDep
) -> ModelVersionOut:
    """Register a succeeded run's model as the name's next version (the name is created with its first one). The
    model's files are copied into the registry, so deleting the run keeps the version whole."""
    return registry.register(platform, session, name, body, actor)


@router.get("/{name}/versions/{version}", responses=errors(404))
def get_version(name: str, version: VersionNumber, session: SessionDep) -> ModelVersionOut:
    return registry.version_out(session, registry.get_version(session, name, version))


@router.patch("/{name}/versions/{version}", responses=errors(404))
def update_version(name: str, version: VersionNumber, body: ModelUpdate, session: SessionDep) -> ModelVersionOut:
    """Change the version's description or tags."""
    return registry.update_version(session, name, version, body)


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_version(name: str, version: VersionNumber, platform: PlatformDep, session: SessionDep) -> Response:
    """Delete a version and its files; refused (409) while an alias points at it."""
    registry.delete_version(platform, session, name, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{name}/aliases/{alias}", responses=errors(404))
def set_alias(name: str, alias: AliasName, body: AliasSet, session: SessionDep, actor: ActorDep) -> AliasOut:
    """Point an alias (production, staging, ...) at a version, creating or moving it; every change is kept in
    the model's alias_history."""
    return registry.set_alias(session, name, alias, body.version, actor)


@router.delete("/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_alias(name: str, alias: str, session: SessionDep, actor: ActorDep) -> Response:
    registry.delete_alias(session, name, alias, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{reference}/predict", response_model=Prediction, responses=PREDICT_ERRORS, openapi_extra=PREDICT_BODY)
async def predict_by_alias(reference: str, request: Request, platform: PlatformDep) -> dict[str, Any]:
    """Predict with the version an alias names: POST /api/v1/models/<name>@<alias>/predict."""
    name, at, alias = reference.partition("@")
    if not at:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"name a version: /api/v1/models/{excerpt(name)}@<alias>/predict or "
            f"/api/v1/models/{excerpt(name)}/versions/<version>/predict",
        )
    payload = await prediction_input(request)
    version = await _find(platform, lambda session: registry.get_aliased(session, name, alias))
    return await services.predict(platform, registry.serving_ref(version), registry.checked_input(version, payload))


@router.post(
    "/{name}/versions/{version}/predict",
    response_model=Prediction,
    responses=PREDICT_ERRORS,
    openapi_extra=PREDICT_BODY,
)
async def predict_with_version(
    name: str, version: VersionNumber, request: Request, platform: PlatformDep
) -> dict[str, Any]:
    """Predict with one version of a model."""
    payload = await prediction_input(request)
    found = await _find(platform, lambda session: registry.get_version(session, name, version))
    return await services.predict(platform, registry.serving_ref(found), registry.checked_input(found, payload))


async def _find(platform: Platform, lookup: Callable[[Session], ModelVersion]) -> ModelVersion:
    """The version, read in a session of its own that is closed before the prediction is waited for."""

    def read() -> ModelVersion:
        with platform.sessions() as session:
            return lookup(session)

    return await run_in_threadpool(read)

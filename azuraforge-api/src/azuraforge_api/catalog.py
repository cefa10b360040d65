"""Installed apps, and turning a POSTed experiment (with its optional grid) into validated configs."""

import itertools
import logging
from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError

from azuraforge_api.schemas import AppOut, ExperimentCreate
from azuraforge_learner.config import ConfigError
from azuraforge_learner.plugins import AppLoadError, PipelineClass, UnknownAppError, discover_pipelines, load_pipeline

log = logging.getLogger(__name__)

MAX_GRID_SIZE = 100
MAX_NAME_LENGTH = 200  # the column's size


def installed_apps() -> list[AppOut]:
    pipelines, errors = discover_pipelines()
    for error in errors:
        log.warning("app %s is installed but cannot be loaded: %s", error.name, error.error)
    return [
        AppOut(
            name=name,
            description=pipeline.description,
            config_schema=pipeline.config_schema(),
            defaults=pipeline.default_config(),
            datasets=list(pipeline.datasets),
        )
        for name, pipeline in pipelines.items()
    ]


def find_app(name: str) -> PipelineClass:
    try:
        return load_pipeline(name)
    except UnknownAppError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except AppLoadError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"{exc}; fix or reinstall that app") from exc


def expand(request: ExperimentCreate, pipeline: PipelineClass) -> list[tuple[dict[str, Any], str]]:
    """(validated config, name) of every experiment the request asks for; 422 naming every bad field."""
    grid = request.grid or {}
    fields = pipeline.Config.model_fields
    unknown = [
        _error(("body", "grid", key), f"unknown field; the fields of this app are: {', '.join(fields)}")
        for key in grid
        if key not in fields
    ]
    if unknown:
        raise RequestValidationError(unknown)
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_GRID_SIZE:
        raise RequestValidationError(
            [_error(("body", "grid"), f"the grid makes {size} experiments; at most {MAX_GRID_SIZE} are allowed")]
        )
    expanded, errors = [], {}
    for combination in itertools.product(*grid.values()):
        varied = dict(zip(grid, combination, strict=True))
        try:
            config = pipeline.validate({**request.config, **varied})
        except ConfigError as exc:
            for error in exc.errors:
                path = tuple(error["field"].split(".")) if error["field"] != "(config)" else ()
                where = "grid" if path and path[0] in varied else "config"
                loc = ("body", where, *path)
                errors[loc] = _error(loc, error["message"])
            continue
        suffix = f"({', '.join(f'{key}={value}' for key, value in varied.items())})" if varied else ""
        name = " ".join(part for part in (request.name or "", suffix) if part)[:MAX_NAME_LENGTH]
        expanded.append((config.model_dump(mode="json"), name))
    if errors:
        raise RequestValidationError(list(errors.values()))
    return expanded


def _error(loc: tuple[str, ...], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}


def queue_of(requested: str | None, pipeline: PipelineClass, queues: list[str]) -> str:
    """The queue a request names, else the app's, else the deployment's default; 422 if it is not one of
    `queues` (AZURAFORGE_QUEUES)."""
    queue = requested or pipeline.queue or queues[0]
    if queue not in queues:
        field = ("body", "queue") if requested else ("body", "app")
        raise RequestValidationError(
            [_error(field, f"queue {queue!r} is not served here; the queues are: {', '.join(queues)}")]
        )
    return queue

"""The apps, as the processes that have them installed published them (azuraforge_common.catalog), and turning a
POSTed experiment (with its optional grid) into configs checked against the app's published JSON schema.

The API imports no app: the worker validates each config again with the app's own model when the run starts,
which also catches the rules between fields that a JSON schema cannot state (the run then fails naming them)."""

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from jsonschema import Draft202012Validator
from jsonschema import ValidationError as SchemaError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from azuraforge_api.schemas import AppOut, ExperimentCreate
from azuraforge_common import catalog
from azuraforge_common.models import PublishedApp
from azuraforge_learner.config import excerpt

log = logging.getLogger(__name__)

MAX_GRID_SIZE = 100
MAX_NAME_LENGTH = 200  # the column's size
MAX_MESSAGE_LENGTH = 300


def published_apps(session: Session) -> list[AppOut]:
    """Every published app that loaded where it was published, as its description says, with who published it."""
    apps = []
    for row in catalog.published_apps(session):
        if row.payload is None:
            log.warning("app %s cannot be loaded where %s published it: %s", row.name, row.published_by, row.error)
            continue
        try:
            app = AppOut.model_validate(
                {
                    **row.payload,
                    "name": row.name,
                    "packages": row.packages,
                    "published_by": row.published_by,
                    "published_at": row.published_at,
                }
            )
        except ValidationError as exc:  # a publisher of another version: list the others, say what is wrong
            log.warning("app %s as %s published it does not fit this API: %s", row.name, row.published_by, exc)
            continue
        apps.append(app)
    return apps


def find_app(session: Session, name: str) -> dict[str, Any]:
    """The published description of app `name`; a 422 at `app` if no worker has published it or it fails to
    load where it was published."""
    row = catalog.find_app(session, name)
    if row is not None and row.payload is not None:
        return row.payload
    if row is None:
        known = [app.name for app in catalog.published_apps(session) if app.payload is not None]
        message = (
            f"unknown app {excerpt(name)} (no worker has published it); published apps: "
            f"{', '.join(known) or 'none'}. Start a worker that has the app installed, or run "
            "`python -m azuraforge_worker.catalog` where it is installed"
        )
    else:
        message = _broken(row)
    raise RequestValidationError([_error(("body", "app"), message)])


def _broken(row: PublishedApp) -> str:
    return (
        f"app {row.name!r} fails to load where {row.published_by} published it: {row.error}; fix or reinstall it "
        "there and restart that worker"
    )


def config_errors(app: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(field path, what is wrong) for every part of `config` (defaults filled in) that the app's published JSON
    schema refuses; empty when it is valid."""
    found: dict[tuple[str, ...], str] = {}
    for error in Draft202012Validator(app["config_schema"]).iter_errors(dict(config)):
        path = tuple(str(part) for part in error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
            for key in error.instance:
                if key not in known:
                    found[(*path, str(key))] = f"unknown field; the fields of this app are: {', '.join(known)}"
            continue
        found.setdefault(path, _message(error))
    return sorted(found.items())


def _message(error: SchemaError) -> str:
    """What is wrong, in a sentence that never holds the whole of a long value: for an optional field (anyOf ...
    null) the reason of the alternative that matters, the way the app's own model would say it."""
    reasons = [
        reason for reason in error.context or () if (reason.validator, reason.validator_value) != ("type", "null")
    ]
    return "; ".join(_reason(reason) for reason in reasons) if reasons else _reason(error)


def _reason(error: SchemaError) -> str:
    limit, value = error.validator_value, error.instance
    size = len(value) if isinstance(value, str | list) else None
    match error.validator:
        case "maxLength":
            return f"a string of at most {limit} characters (this one has {size})"
        case "minLength":
            return f"a string of at least {limit} characters"
        case "maxItems":
            return f"at most {limit} items (this list has {size})"
        case "minItems":
            return f"at least {limit} items"
    if len(error.message) <= MAX_MESSAGE_LENGTH:
        return error.message
    return f"{excerpt(value)} does not satisfy {error.validator} {excerpt(limit)}"


def with_defaults(app: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    return {**app["defaults"], **config}


def expand(request: ExperimentCreate, app: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(config with defaults, name) of every experiment the request asks for; 422 naming every bad field."""
    grid = request.grid or {}
    fields = app["config_schema"].get("properties", {})
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
        config = with_defaults(app, {**request.config, **varied})
        problems = config_errors(app, config)
        for path, message in problems:
            where = "grid" if path and path[0] in varied else "config"
            loc = ("body", where, *path)
            errors[loc] = _error(loc, message)
        if problems:
            continue
        suffix = f"({', '.join(f'{key}={value}' for key, value in varied.items())})" if varied else ""
        name = " ".join(part for part in (request.name or "", suffix) if part)[:MAX_NAME_LENGTH]
        expanded.append((config, name))
    if errors:
        raise RequestValidationError(list(errors.values()))
    return expanded


def _error(loc: tuple[str, ...], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}


def queue_of(requested: str | None, app: Mapping[str, Any], queues: list[str]) -> str:
    """The queue a request names, else the app's (as published), else the deployment's default; 422 if it is not
    one of `queues` (AZURAFORGE_QUEUES)."""
    queue = requested or app.get("queue") or queues[0]
    if queue not in queues:
        field = ("body", "queue") if requested else ("body", "app")
        raise RequestValidationError(
            [_error(field, f"queue {queue!r} is not served here; the queues are: {', '.join(queues)}")]
        )
    return queue

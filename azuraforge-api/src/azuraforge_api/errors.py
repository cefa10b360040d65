"""Errors are JSON {"detail": ...}, never a stack trace nor a whole input; an unreachable Redis or database is
a 503. Unexpected errors are answered by azuraforge_api.guard, which keeps the connection usable."""

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerError
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisFullError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from azuraforge_api.guard import internal_error
from azuraforge_learner.config import excerpt

log = logging.getLogger(__name__)

REDIS_DOWN = "Redis is unreachable; retry once it is back (GET /api/v1/health shows when)"
DATABASE_DOWN = "the database is unreachable; retry once it is back (GET /api/v1/health shows when)"
REDIS_FULL = "Redis is full (its maxmemory is reached) and accepts nothing new; GET /api/v1/health says more"
DATABASE_BUSY = "the database is busy with other writes; retry in a few seconds"


class Problem(BaseModel):
    detail: str


_MEANINGS = {
    400: "A URL with a NUL byte, or (without an API token) a Host the API does not answer to",
    401: "Not signed in, or a wrong, revoked or expired API token, or an ended session",
    403: "Too low a role in the project, a token without the scope, no X-CSRF-Token with a session, or a request "
    "from another site's page (its Origin is not allowed)",
    404: "No such experiment, app, file, model, version, alias, project, user or token, or one in a project the "
    "caller cannot see",
    409: "The experiment or model is not in a state that allows this (a run that did not succeed, an aliased "
    "version, an app not installed where models are served), or the Idempotency-Key was used for another request",
    422: "The input is not what the route or the model takes; the detail says what is wrong",
    500: "The model server failed on this prediction; its log says why",
    413: "The body is larger than this route accepts; the detail names the limit",
    415: "Without a bearer token: a body that is not JSON",
    429: "Too many failed logins for the account or the address; retry after Retry-After",
    503: "Redis or the database is unreachable or busy, or every prediction slot is taken; retry after Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: JSON even on routes that answer markdown or files (with
    `model`, FastAPI would document them in the route's own media type)."""
    content = {"application/json": {"schema": Problem.model_json_schema()}}
    return {code: {"description": _MEANINGS[code], "content": content} for code in codes}


COMMON_ERRORS = errors(400, 401, 403, 413, 415, 503)
"""What any REST route can answer, from the guard and the error handlers."""


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: Redis unreachable: %s", request.method, request.url.path, exc)
    return _unavailable(REDIS_DOWN)


async def _redis_full(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: Redis is full: %s", request.method, request.url.path, exc)
    return _unavailable(REDIS_FULL)


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: database busy: %s", request.method, request.url.path, exc)
    return _unavailable(DATABASE_BUSY)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return await _database_busy(request, exc)
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        log.warning("%s %s: database unreachable: %s", request.method, request.url.path, exc)
        return _unavailable(DATABASE_DOWN)
    return await _internal_error(request, exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return internal_error()


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with an excerpt of each bad input instead of the input: a megabyte body is not echoed, and
    a deeply nested one cannot break the answer."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"type": error["type"], "loc": error["loc"], "msg": error["msg"]}
        | ({"input": excerpt(error["input"])} if "input" in error else {})
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_error_handlers(app: FastAPI) -> None:
    for redis_error in (RedisConnectionError, RedisTimeoutError, BrokerError):
        app.add_exception_handler(redis_error, _redis_down)
    app.add_exception_handler(RedisFullError, _redis_full)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # No free pooled connection within AZURAFORGE_DATABASE_TIMEOUT_S: the API is overloaded, not broken.
    app.add_exception_handler(PoolTimeoutError, _database_busy)

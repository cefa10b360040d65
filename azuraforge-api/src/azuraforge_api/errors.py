"""Errors are JSON {"detail": ...}, never a stack trace; an unreachable Redis or database is a 503."""

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisFullError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger(__name__)

REDIS_DOWN = "Redis is unreachable; retry once it is back (GET /api/v1/health shows when)"
DATABASE_DOWN = "the database is unreachable; retry once it is back (GET /api/v1/health shows when)"
REDIS_FULL = "Redis is full (its maxmemory is reached) and accepts nothing new; GET /api/v1/health says more"
DATABASE_BUSY = "the database is busy with other writes; retry in a few seconds"


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
    return JSONResponse(
        {"detail": "internal error; the API log has the details"}, status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def install_error_handlers(app: FastAPI) -> None:
    for redis_error in (RedisConnectionError, RedisTimeoutError, BrokerError):
        app.add_exception_handler(redis_error, _redis_down)
    app.add_exception_handler(RedisFullError, _redis_full)
    app.add_exception_handler(DBAPIError, _database_error)
    # No free pooled connection within AZURAFORGE_DATABASE_TIMEOUT_S: the API is overloaded, not broken.
    app.add_exception_handler(PoolTimeoutError, _database_busy)
    app.add_exception_handler(Exception, _internal_error)

"""What every request passes before a route sees it, as one ASGI middleware around the app.

- /api/ calls are authenticated (azuraforge_api.auth.admit) before their body is read; the caller goes into the
  request's state, where routes find it through azuraforge_api.auth.CallerDep.
- Without a bootstrap token (the `azuraforge up` default) the Host must be a configured one (DNS rebinding).
  Requests a page of another site could make a browser send (cookie sessions, and every request while the
  platform is open) must come from the API's own origin or a CORS origin, with JSON bodies (auth.cross_site_refusal).
- Bodies are capped per route (413 naming the limit); a NUL byte in the URL is a 400.
- An unexpected error answers 500 without closing the connection, so keep-alive clients are not hurt.
"""

import logging
import re
from collections.abc import Mapping
from functools import partial
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import redis
from fastapi import HTTPException, status
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from azuraforge_api.auth import ACCOUNT_PATHS, SAFE_METHODS, Caller, Refusal, admit, recalled
from azuraforge_api.platform import Platform
from azuraforge_common.datasets import MAX_UPLOAD_BYTES
from azuraforge_common.settings import Settings

log = logging.getLogger(__name__)

SERVER_SEND = "server_send"
"""Where a WebSocket's state keeps the ASGI server's send callable."""

JOIN_SLOT = "join_slot"
"""Where a WebSocket's state keeps its JoinSlot."""
JOIN_WAIT_S = 10.0
"""How long a WebSocket waits for a join slot before a 503."""
JOINS_BUSY = "too many connections are being set up at once; retry in a few seconds"
HUB_WAIT_S = 2.0
"""How long a WebSocket waits for the hub's connection to Redis (just started, or reconnecting) before a 503."""

WEBSOCKET_PROTOCOL = "azuraforge"
"""The subprotocol the API answers with; a browser offers it next to bearer.<token>."""

KIB = 1024
DEFAULT_BODY_LIMIT = 64 * KIB
DATASETS_PATH = "/api/v1/datasets"
ARTIFACT_UPLOADS = "/api/2.0/mlflow-artifacts/artifacts/"
"""PUT here: one file of an external run, streamed to disk, in whatever media type it has."""
# A route is (method, path ending), or (method, folder ending with "/") for every path under the folder.
# Largest body accepted per route; the rest get DEFAULT_BODY_LIMIT.
BODY_LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/predict"): 8 * KIB * KIB,  # rows of input data
    ("POST", DATASETS_PATH): MAX_UPLOAD_BYTES + 64 * KIB,  # the file and the form's other fields
    ("PUT", ARTIFACT_UPLOADS): 1024 * KIB * KIB,
    ("POST", "/api/v1/experiments"): 256 * KIB,  # a config and a grid
    ("POST", "/api/2.0/mlflow/runs/log-batch"): 1000 * KIB,  # MLflow's own limit (1 MB)
    ("POST", "/api/2.0/mlflow/runs/log-inputs"): 1000 * KIB,
}
FILE_BODIES: frozenset[tuple[str, str]] = frozenset(
    {("PUT", ARTIFACT_UPLOADS), ("POST", "/predict"), ("POST", DATASETS_PATH)}
)
"""Routes whose body may be a file (a multipart form, or any media type). The JSON-only rule of
auth.cross_site_refusal spares them; the Origin check still holds."""
NUL_IN_URL = "the URL contains a NUL byte (%00); remove it"
AUTH_BUSY = "the API is busy (no free database connection to authenticate with); retry in a few seconds"
AUTH_UNAVAILABLE = (
    "the database or Redis is unreachable, so nobody can be authenticated; retry once it is back "
    "(GET /api/v1/health shows when)"
)


def _is_route(method: str, path: str, route: tuple[str, str]) -> bool:
    route_method, ending = route
    if method != route_method:
        return False
    return path.startswith(ending) if ending.endswith("/") else path.rstrip("/").endswith(ending)


def body_limit(method: str, path: str) -> int:
    return next((limit for route, limit in BODY_LIMITS.items() if _is_route(method, path, route)), DEFAULT_BODY_LIMIT)


def takes_files(method: str, path: str) -> bool:
    return any(_is_route(method, path, route) for route in FILE_BODIES)


def refusal(settings: Settings, path: str, headers: Mapping[str, str]) -> Refusal | None:
    """Why this request may not proceed whoever sends it, or None."""
    if "\x00" in path:  # no id or file name holds one, and PostgreSQL cannot even compare it
        return Refusal(status.HTTP_400_BAD_REQUEST, NUL_IN_URL)
    if settings.api_token is not None:
        return None
    host = _hostname(headers.get("host", ""))
    if host not in {name.lower().strip("[]") for name in settings.allowed_hosts}:
        return Refusal(
            status.HTTP_400_BAD_REQUEST,
            f"this API does not answer to host {host!r}: add it to AZURAFORGE_ALLOWED_HOSTS, or set "
            "AZURAFORGE_API_TOKEN",
        )
    return None


async def admitted(
    platform: Platform,
    method: str,
    path: str,
    headers: Mapping[str, str],
    ip: str | None,
    files: bool = False,
    threads: anyio.CapacityLimiter | None = None,
) -> Caller | Refusal | None:
    """auth.admit on a thread (of `threads`, or the shared pool; unless auth.recalled knows the caller); with the
    database or Redis unreachable, a 503 (nobody can be authenticated)."""
    if (caller := recalled(platform, path, headers, ip)) is not None:
        return caller
    try:
        return await anyio.to_thread.run_sync(
            partial(admit, platform, method, path, headers, ip, files), limiter=threads
        )
    except PoolTimeoutError:
        return Refusal(status.HTTP_503_SERVICE_UNAVAILABLE, AUTH_BUSY)
    except (SQLAlchemyError, redis.RedisError) as exc:
        log.warning("%s %s: cannot authenticate: %s", method, path, exc)
        return Refusal(status.HTTP_503_SERVICE_UNAVAILABLE, AUTH_UNAVAILABLE)


def _hostname(host: str) -> str:
    return (urlsplit(f"//{host}").hostname or "") if host else ""


_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"]*", re.IGNORECASE)


class RedactTokensInURLs(logging.Filter):
    """A client of an older dashboard may still put the token in a WebSocket URL (?token=, now refused), and
    uvicorn logs URLs even without an access log: the token is blanked before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = _TOKEN_IN_URL.sub(r"\1<redacted>", message), ()
        return True


def redact_tokens_in_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokensInURLs) for existing in logger.filters):
            logger.addFilter(RedactTokensInURLs())


class JoinSlot:
    """One of the platform's JOINS_AT_ONCE slots: a WebSocket holds one from before routing until its route
    releases it (the live route: once the watcher has its replay), at the latest until it ends."""

    def __init__(self, slots: anyio.Semaphore) -> None:
        self._slots = slots
        self._held = False

    async def take(self, wait_s: float) -> bool:
        """Waits up to `wait_s` for a slot; whether it got one."""
        with anyio.move_on_after(wait_s):
            await self._slots.acquire()
            self._held = True
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


def join_slot(websocket: HTTPConnection) -> JoinSlot:
    slot: JoinSlot = websocket.scope["state"][JOIN_SLOT]
    return slot


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # The server's own send, before the routing layers wrap it: the live route writes frames with it
            # (azuraforge_api.fanout).
            state = scope.setdefault("state", {})
            state[SERVER_SEND] = send
            platform: Platform = scope["app"].state.platform
            with anyio.move_on_after(HUB_WAIT_S):  # outside a slot: Redis being down costs no one else a turn
                await platform.hub.connected.wait()
            slot = state[JOIN_SLOT] = JoinSlot(platform.joins)
            if not await slot.take(JOIN_WAIT_S):  # the slots' holders are stuck (a database that hangs, say)
                busy = Refusal(status.HTTP_503_SERVICE_UNAVAILABLE, JOINS_BUSY).response()
                return await WebSocket(scope, receive, send).send_denial_response(busy)
            try:
                return await self.app(scope, receive, send)
            finally:
                slot.release()
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path, headers = scope["method"], scope["path"], Headers(scope=scope)
        if b"%00" in scope["query_string"]:
            return await Refusal(status.HTTP_400_BAD_REQUEST, NUL_IN_URL).response()(scope, receive, send)
        if (denied := refusal(self.settings, path, headers)) is not None:
            return await denied.response()(scope, receive, send)
        if path.startswith("/api/") and method != "OPTIONS":
            client = scope.get("client")
            ip = client[0] if client else None
            caller = await admitted(scope["app"].state.platform, method, path, headers, ip, takes_files(method, path))
            if isinstance(caller, Refusal):
                return await caller.response()(scope, receive, send)
            scope.setdefault("state", {})["caller"] = caller
        limit = body_limit(method, path)
        too_large = Refusal(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the request body is larger than {limit // KIB} KiB, the limit of {method} {path[:100]}",
        )
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > limit:
            return await too_large.response()(scope, receive, send)
        received = 0
        started = False
        changes_accounts = method not in SAFE_METHODS and path.startswith(ACCOUNT_PATHS)

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body has no Content-Length to check up front
                raise HTTPException(too_large.status_code, too_large.detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if changes_accounts:  # before the client hears of the change: its next call must see it
                    scope["app"].state.platform.recent_callers.forget()
            await send(message)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except Exception as exc:  # the last stop: above is the server, which would drop the connection
            log.error("%s %s failed", method, path, exc_info=exc)
            if not started:
                await internal_error()(scope, receive, send)


def internal_error() -> JSONResponse:
    return JSONResponse(
        {"detail": "internal error; the API log has the details"}, status.HTTP_500_INTERNAL_SERVER_ERROR
    )

"""What every request passes before a route sees it, as one ASGI middleware around the app.

- With a token set, /api/ calls are authenticated before their body is read.
- Without a token (the `azuraforge up` default) a browser page of another site could still reach the API, so
  the Host must be a configured one (DNS rebinding), state-changing requests and WebSockets must come from the
  API's own origin or a CORS origin, and bodies must be JSON (no cross-site form posts; an image for a prediction
  may come as a form).
- Bodies are capped per route (413 naming the limit); a NUL byte in the URL is a 400.
- An unexpected error answers 500 without closing the connection, so keep-alive clients are not hurt.
"""

import base64
import binascii
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azuraforge_common.settings import Settings

log = logging.getLogger(__name__)

TOKEN_HELP = (
    "send the API token: header 'Authorization: Bearer <AZURAFORGE_API_TOKEN>' (browser WebSockets: "
    "subprotocols 'azuraforge' and 'bearer.<token in base64url>')"
)
WEBSOCKET_PROTOCOL = "azuraforge"
"""The subprotocol the API answers with; a browser offers it next to bearer.<token>."""
BEARER_PROTOCOL_PREFIX = "bearer."

KIB = 1024
DEFAULT_BODY_LIMIT = 64 * KIB
# (method, path ending) -> largest body accepted; the rest get DEFAULT_BODY_LIMIT.
BODY_LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/predict"): 8 * KIB * KIB,  # rows of input data
    ("POST", "/api/v1/experiments"): 256 * KIB,  # a config and a grid
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NUL_IN_URL = "the URL contains a NUL byte (%00); remove it"


@dataclass(frozen=True)
class Refusal:
    status_code: int
    detail: str

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status_code == status.HTTP_401_UNAUTHORIZED else None
        return JSONResponse({"detail": self.detail}, self.status_code, headers=headers)


def body_limit(method: str, path: str) -> int:
    for (limit_method, ending), limit in BODY_LIMITS.items():
        if method == limit_method and path.rstrip("/").endswith(ending):
            return limit
    return DEFAULT_BODY_LIMIT


def token_matches(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token of `Authorization`, or of a `bearer.<base64url>` WebSocket subprotocol (browsers cannot
    set headers on WebSockets). Never a URL parameter: URLs end up in logs."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        encoded = protocol.strip()
        if encoded.startswith(BEARER_PROTOCOL_PREFIX):
            encoded = encoded.removeprefix(BEARER_PROTOCOL_PREFIX)
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def refusal(settings: Settings, method: str, path: str, headers: Mapping[str, str]) -> Refusal | None:
    """Why this request may not proceed, or None. `method` is "WEBSOCKET" for WebSocket handshakes."""
    if "\x00" in path:  # no id or file name holds one, and PostgreSQL cannot even compare it
        return Refusal(status.HTTP_400_BAD_REQUEST, NUL_IN_URL)
    if settings.api_token is not None:
        guarded = path.startswith(("/api/", "/ws/")) and method != "OPTIONS"
        if guarded and not token_matches(settings.api_token, presented_token(headers)):
            return Refusal(status.HTTP_401_UNAUTHORIZED, f"missing or wrong API token; {TOKEN_HELP}")
        return None
    host = _hostname(headers.get("host", ""))
    if host not in {name.lower().strip("[]") for name in settings.allowed_hosts}:
        return Refusal(
            status.HTTP_400_BAD_REQUEST,
            f"this API does not answer to host {host!r}: add it to AZURAFORGE_ALLOWED_HOSTS, or set "
            "AZURAFORGE_API_TOKEN",
        )
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and origin not in settings.cors_origins and not _same_origin(origin, headers):
        return Refusal(
            status.HTTP_403_FORBIDDEN,
            f"requests from origin {origin[:100]!r} are refused: add it to AZURAFORGE_CORS_ORIGINS, or set "
            "AZURAFORGE_API_TOKEN",
        )
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    # An image is uploaded as a form to .../predict; a prediction changes nothing, and the Origin check above holds.
    upload = media_type == "multipart/form-data" and path.rstrip("/").endswith("/predict")
    if method != "WEBSOCKET" and media_type and media_type != "application/json" and not upload:
        return Refusal(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send JSON with 'Content-Type: application/json', not {media_type[:100]!r}",
        )
    return None


def _hostname(host: str) -> str:
    return (urlsplit(f"//{host}").hostname or "") if host else ""


def _same_origin(origin: str, headers: Mapping[str, str]) -> bool:
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


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


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path, headers = scope["method"], scope["path"], Headers(scope=scope)
        if b"%00" in scope["query_string"]:
            return await Refusal(status.HTTP_400_BAD_REQUEST, NUL_IN_URL).response()(scope, receive, send)
        if (denied := refusal(self.settings, method, path, headers)) is not None:
            return await denied.response()(scope, receive, send)
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

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body has no Content-Length to check up front
                raise HTTPException(too_large.status_code, too_large.detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
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

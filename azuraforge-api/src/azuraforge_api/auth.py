"""Who is calling, and what they may do.

Authentication happens once per request, in azuraforge_api.guard (before the body is read) and in the WebSocket
routes, through `admit`. A caller presents one of:
- an API token (`Authorization: Bearer azf_...`, or the WebSocket subprotocol `bearer.<base64url>`),
- the bootstrap token AZURAFORGE_API_TOKEN the same way (a site admin without an account),
- the session cookie set by POST /api/v1/auth/login; its state-changing requests carry the session's CSRF token
  in the X-CSRF-Token header (the dashboard reads it from the azuraforge_csrf cookie).
A platform with neither a bootstrap token nor any account (a fresh `azuraforge up`) is open: every request
acts as a site admin, behind the Host and Origin checks of the guard.

Authorization is the `Caller` routes receive through `CallerDep`: its role in each project, and `require` /
`record`, which answer 404 for a project the caller cannot see (ids leak nothing) and 403 for one it sees
with too low a role or a token without the scope.
"""

import base64
import binascii
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, HTTPException, Request, status
from starlette.responses import JSONResponse

from azuraforge_api import accounts
from azuraforge_api.accounts import ROLE_SCOPE, SCOPES, Role, Scope, rank
from azuraforge_api.platform import Platform
from azuraforge_common.models import User, utcnow
from azuraforge_common.settings import Settings

SESSION_COOKIE = "azuraforge_session"
CSRF_COOKIE = "azuraforge_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_LIFETIME = timedelta(hours=12)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
"""A token's last-used time is written at most this often, not on every request."""
CALLER_REUSE_S = 2.0
"""How long an API token's verified caller is reused without reading the database. A change to accounts made
through this API process (a token revoked, a role, a user deactivated) applies at once (azuraforge_api.guard
forgets them all); one made by another process (the CLI, another API replica) within this time."""
ACCOUNT_PATHS = ("/api/v1/auth/", "/api/v1/tokens", "/api/v1/projects", "/api/v1/users")
"""Where the API changes who may do what: a request there that is not a read makes every reused caller stale."""
PUBLIC_PATHS = frozenset({"/api/v1/auth/login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER_PROTOCOL_PREFIX = "bearer."

LOGIN_HELP = (
    "log in (POST /api/v1/auth/login) or send an API token: header 'Authorization: Bearer <token>' (browser "
    "WebSockets: the session cookie, or subprotocols 'azuraforge' and 'bearer.<token in base64url>')"
)
Via = Literal["open", "bootstrap", "token", "session"]


@dataclass(frozen=True)
class Refusal:
    status_code: int
    detail: str

    def response(self) -> JSONResponse:
        headers = {
            status.HTTP_401_UNAUTHORIZED: {"WWW-Authenticate": "Bearer"},
            status.HTTP_503_SERVICE_UNAVAILABLE: {"Retry-After": "5"},
        }.get(self.status_code)
        return JSONResponse({"detail": self.detail}, self.status_code, headers=headers)


T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    name: str
    """The username; "bootstrap-token" or "local" for callers without an account."""
    user_id: str | None
    admin: bool
    scopes: frozenset[Scope]
    via: Via
    roles: Mapping[str, Role] = field(default_factory=dict)
    session_id: str | None = None
    ip: str | None = None

    def role(self, project_id: str) -> Role | None:
        return "owner" if self.admin else self.roles.get(project_id)

    def visible_projects(self) -> Collection[str] | None:
        """The projects whose records the caller may see; None: every project."""
        return None if self.admin else list(self.roles)

    def require(self, project_id: str, role: Role, missing: str) -> None:
        """404 with `missing` if the caller cannot see the project; 403 if its role or token is not enough."""
        have = self.role(project_id)
        if have is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
        if rank(have) < rank(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"your role in project {project_id!r} is {have}; this needs {role} (ask one of its owners)",
            )
        self.require_scope(ROLE_SCOPE[role])

    def record(self, found: T | None, role: Role, missing: str) -> T:
        """A record that carries a project_id, if the caller may act on it with `role`; else 404 or 403."""
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
        self.require(getattr(found, "project_id"), role, missing)  # noqa: B009 (any record with a project)
        return found

    def require_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this API token lacks the {scope!r} scope; create one with it (POST /api/v1/tokens)",
            )

    def require_admin(self) -> None:
        if not self.admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only site admins may do this")
        self.require_scope("admin")

    def require_user(self) -> str:
        """The caller's user id: tokens and sessions belong to users, which the bootstrap token is not."""
        if self.user_id is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"you are signed in as {self.name}, which has no account: create one with "
                "`azuraforge users create NAME --admin` and log in with it",
            )
        return self.user_id


ALL_SCOPES = frozenset(SCOPES)
OPEN = Caller(name="local", user_id=None, admin=True, scopes=ALL_SCOPES, via="open")
BOOTSTRAP = Caller(name="bootstrap-token", user_id=None, admin=True, scopes=ALL_SCOPES, via="bootstrap")


async def get_caller(request: Request) -> Caller:
    """The caller the guard admitted; the one dependency every scoped route has (async: it does no I/O)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, LOGIN_HELP, {"WWW-Authenticate": "Bearer"})
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


# Credentials


def token_matches(expected: str, given: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


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
                return ""
    return None


def cookie(headers: Mapping[str, str], name: str) -> str | None:
    for pair in headers.get("cookie", "").split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name and value:
            return value
    return None


@dataclass(frozen=True)
class IssuedSession:
    cookie: str
    csrf: str
    max_age_s: int


def issue_session(platform: Platform, user: User) -> IssuedSession:
    now = utcnow()
    csrf = secrets.token_urlsafe(32)
    claims = {"sub": user.id, "jti": secrets.token_hex(16), "iat": now, "exp": now + SESSION_LIFETIME, "csrf": csrf}
    encoded = jwt.encode(claims, platform.session_secret, algorithm="HS256")
    return IssuedSession(encoded, csrf, int(SESSION_LIFETIME.total_seconds()))


def session_claims(platform: Platform, encoded: str) -> dict[str, str] | None:
    try:
        claims: dict[str, str] = jwt.decode(
            encoded, platform.session_secret, algorithms=["HS256"], options={"require": ["exp", "sub", "jti", "csrf"]}
        )
    except jwt.InvalidTokenError:
        return None
    return claims


def end_session(platform: Platform, caller: Caller) -> None:
    """Logging out: the session's id is refused until the session would have expired anyway."""
    if caller.session_id is not None:
        seconds = int(SESSION_LIFETIME.total_seconds())
        platform.redis.set(_ended_key(caller.session_id), 1, ex=seconds)


def _ended_key(session_id: str) -> str:
    return f"azuraforge:session-ended:{session_id}"


# Admission


def admit(
    platform: Platform, method: str, path: str, headers: Mapping[str, str], ip: str | None, files: bool = False
) -> Caller | Refusal | None:
    """The caller of a request to /api/ or /ws/, a refusal, or None for a public route called without
    credentials. `method` is "WEBSOCKET" for WebSocket handshakes; `files`: the route takes a file body
    (guard.FILE_BODIES). Reads the database (and Redis for sessions): call it on a thread."""
    settings = platform.settings
    if path in PUBLIC_PATHS:  # whatever credentials come along: an ended session must not block logging in again
        return cross_site_refusal(settings, method, headers, files)
    token = presented_token(headers)
    if token is not None:
        return _token_caller(platform, token, ip)
    encoded = cookie(headers, SESSION_COOKIE)
    if encoded is not None:
        return _session_caller(platform, encoded, method, headers, ip, files)
    if settings.api_token is None and not platform.has_accounts():
        return cross_site_refusal(settings, method, headers, files) or OPEN
    return Refusal(status.HTTP_401_UNAUTHORIZED, f"not signed in; {LOGIN_HELP}")


def recalled(platform: Platform, path: str, headers: Mapping[str, str], ip: str | None) -> Caller | None:
    """admit's caller when it needs no I/O: the bootstrap token, or an API token verified in the last
    CALLER_REUSE_S seconds; None when admit must be called."""
    token = presented_token(headers)
    if token is None or path in PUBLIC_PATHS:
        return None
    if platform.settings.api_token is not None and token_matches(platform.settings.api_token, token):
        return BOOTSTRAP
    caller = platform.recent_callers.get(accounts.token_digest(token))
    return None if caller is None else replace(caller, ip=ip)


def _token_caller(platform: Platform, token: str, ip: str | None) -> Caller | Refusal:
    if platform.settings.api_token is not None and token_matches(platform.settings.api_token, token):
        return BOOTSTRAP
    wrong = Refusal(status.HTTP_401_UNAUTHORIZED, f"the API token is wrong, revoked or expired; {LOGIN_HELP}")
    if not token.startswith(accounts.TOKEN_PREFIX):
        return wrong
    with platform.sessions() as session:
        found = accounts.usable_token(session, token)
        if found is None:
            return wrong
        record, user = found
        if record.last_used_at is None or utcnow() - record.last_used_at > TOKEN_TOUCH_INTERVAL:
            record.last_used_at = utcnow()
            session.commit()
        scopes = frozenset(scope for scope in SCOPES if scope in record.scopes)
        roles = accounts.roles_of(session, user.id)
        caller = Caller(user.username, user.id, user.admin, scopes, "token", roles, ip=ip)
    deadline = time.time() + CALLER_REUSE_S
    if record.expires_at is not None:
        deadline = min(deadline, record.expires_at.timestamp())
    platform.recent_callers.remember(record.token_hash, caller, deadline)
    return caller


def _session_caller(
    platform: Platform, encoded: str, method: str, headers: Mapping[str, str], ip: str | None, files: bool
) -> Caller | Refusal:
    ended = Refusal(status.HTTP_401_UNAUTHORIZED, "your session has ended; log in again (POST /api/v1/auth/login)")
    claims = session_claims(platform, encoded)
    if claims is None or platform.redis.exists(_ended_key(claims["jti"])):
        return ended
    if method not in SAFE_METHODS and method != "WEBSOCKET":
        given = headers.get(CSRF_HEADER, "")
        if not token_matches(claims["csrf"], given):
            return Refusal(
                status.HTTP_403_FORBIDDEN,
                f"missing or wrong {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie with every "
                "request that changes something",
            )
    if (refused := cross_site_refusal(platform.settings, method, headers, files)) is not None:
        return refused
    with platform.sessions() as session:
        user = session.get(User, claims["sub"])
        if user is None or not user.active:
            return ended
        roles = accounts.roles_of(session, user.id)
        return Caller(user.username, user.id, user.admin, ALL_SCOPES, "session", roles, claims["jti"], ip)


def cross_site_refusal(settings: Settings, method: str, headers: Mapping[str, str], files: bool) -> Refusal | None:
    """For requests a page of another site could make a browser send (no bearer token): state changes and
    WebSockets only from the API's own origin or a CORS origin, and bodies only JSON (no cross-site form posts)
    unless the route takes files (`files`, from guard.FILE_BODIES)."""
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and origin not in settings.cors_origins and not _same_origin(origin, headers):
        return Refusal(
            status.HTTP_403_FORBIDDEN,
            f"requests from origin {origin[:100]!r} are refused: add it to AZURAFORGE_CORS_ORIGINS",
        )
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if method != "WEBSOCKET" and not files and media_type and media_type != "application/json":
        return Refusal(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send JSON with 'Content-Type: application/json', not {media_type[:100]!r}",
        )
    return None


def _same_origin(origin: str, headers: Mapping[str, str]) -> bool:
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()

"""Users, their passwords and API tokens, project roles, and the audit log: the records behind authentication.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory choice). API tokens are 32
random bytes, so a fast SHA-256 of them is as safe to store as a slow hash and can be looked up by value.
"""

import hashlib
import secrets
from datetime import datetime
from typing import Any, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from azuraforge_common.models import DEFAULT_PROJECT, ApiToken, AuditEntry, Membership, User, utcnow

Role = Literal["viewer", "editor", "owner"]
ROLES: tuple[Role, ...] = get_args(Role)
"""Ascending: each role may do what the ones before it may."""
Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
ROLE_SCOPE: dict[Role, Scope] = {"viewer": "read", "editor": "write", "owner": "write"}
"""The token scope an action needing this role needs too."""

TOKEN_PREFIX = "azf_"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
"""Beyond this a password is refused before hashing: argon2 of a huge input costs the server, not the caller."""

_hasher = PasswordHasher()
_NO_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))
"""Verified against when no such user exists, so that a wrong name takes as long as a wrong password."""


class AccountError(ValueError):
    """A request about accounts that cannot be done as asked; the message says what to change."""


def rank(role: Role) -> int:
    return ROLES.index(role)


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; this one has {len(password)}"
        )
    return _hasher.hash(password)


def verify_password(session: Session, user: User | None, password: str) -> bool:
    """Whether `password` is the user's (False for no user or an inactive one); upgrades an outdated hash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        _hasher.verify(user.password_hash if user else _NO_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is None or not user.active:
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.username) == username.strip().lower())).first()


def any_user(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is not None


def create_user(
    session: Session, username: str, password: str, *, email: str | None = None, admin: bool = False
) -> User:
    """Adds the user (not committed); new users are viewers of the default project."""
    if find_user(session, username) is not None:
        raise AccountError(f"the username {username!r} is taken; choose another")
    if email is not None and session.scalar(select(User.id).where(func.lower(User.email) == email.lower())):
        raise AccountError(f"another user has the email {email!r}")
    user = User(username=username.strip(), email=email, password_hash=hash_password(password), admin=admin)
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, project_id=DEFAULT_PROJECT, role="viewer"))
    return user


def roles_of(session: Session, user_id: str) -> dict[str, Role]:
    rows = session.execute(select(Membership.project_id, Membership.role).where(Membership.user_id == user_id))
    return {project_id: cast(Role, role) for project_id, role in rows}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, user: User, name: str, scopes: list[Scope], expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """The stored record and the token itself, which is not stored and cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, name=name, token_hash=token_digest(token), scopes=list(scopes))
    record.expires_at = expires_at
    session.add(record)
    session.flush()
    return record, token


def usable_token(session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The token's record and user if it may be used now: not revoked, not expired, its user active."""
    found = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_digest(token))
    ).first()
    if found is None:
        return None
    record, user = found
    now = utcnow()
    if record.revoked_at is not None or (record.expires_at is not None and record.expires_at <= now) or not user.active:
        return None
    return record, user


def audit(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    *,
    project_id: str | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    """Adds an audit entry to the session: it is committed with the change it records."""
    session.add(
        AuditEntry(actor=actor, action=action, target=target[:200], project_id=project_id, ip=ip, details=details)
    )

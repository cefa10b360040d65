"""Logging in and out, API tokens, projects and their members, users (site admins) and the audit log."""

from datetime import timedelta
from typing import Annotated, cast

import redis
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from azuraforge_api import accounts
from azuraforge_api.accounts import AccountError, Role, audit
from azuraforge_api.auth import CSRF_COOKIE, SESSION_COOKIE, Caller, CallerDep, end_session, issue_session
from azuraforge_api.deps import PlatformDep, SessionDep
from azuraforge_api.errors import errors
from azuraforge_api.schemas import (
    MAX_OFFSET,
    AuditOut,
    AuditPage,
    CreatedToken,
    Login,
    Me,
    MemberOut,
    MemberSet,
    ProjectCreate,
    ProjectRole,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from azuraforge_api.services import no_project
from azuraforge_common.models import ApiToken, AuditEntry, Membership, Project, User, utcnow
from azuraforge_learner.config import excerpt

public = APIRouter(prefix="/api/v1/auth", tags=["accounts"])
router = APIRouter(prefix="/api/v1", tags=["accounts"])

LOGIN_WINDOW_S = 15 * 60
MAX_FAILED_LOGINS_PER_ACCOUNT = 5
MAX_FAILED_LOGINS_PER_IP = 30
WRONG_LOGIN = "wrong username or password, or the account is deactivated"


# Sessions


@public.post("/login", responses=errors(401, 429))
def login(body: Login, request: Request, response: Response, platform: PlatformDep, session: SessionDep) -> Me:
    """Starts a browser session: an HttpOnly cookie, and the CSRF token (also in the azuraforge_csrf cookie)
    that requests changing something send as X-CSRF-Token. After a few failures per account, or more per IP
    address, login is refused for a while (429 with Retry-After)."""
    ip = request.client.host if request.client else "unknown"
    counters = _failure_counters(body.username, ip)
    _refuse_if_throttled(platform.redis, counters)
    user = accounts.find_user(session, body.username)
    if user is None or not accounts.verify_password(session, user, body.password):
        _count_failure(platform.redis, counters)
        audit(session, body.username, "login.failed", ip=ip)
        session.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, WRONG_LOGIN)
    platform.redis.delete(counters[0][0])
    user.last_login_at = utcnow()
    audit(session, user.username, "login", ip=ip)
    session.commit()
    issued = issue_session(platform, user)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, issued.cookie, issued.max_age_s, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(CSRF_COOKIE, issued.csrf, issued.max_age_s, samesite="lax", secure=secure, path="/")
    caller = Caller(
        user.username, user.id, user.admin, frozenset(accounts.SCOPES), "session", accounts.roles_of(session, user.id)
    )
    return _me(session, caller, issued.csrf)


def _failure_counters(username: str, ip: str) -> list[tuple[str, int, str]]:
    """(Redis key, limit, what is throttled): the account's first, so a success can clear it alone."""
    return [
        (f"azuraforge:login-failures:user:{username.lower()}", MAX_FAILED_LOGINS_PER_ACCOUNT, "this account"),
        (f"azuraforge:login-failures:ip:{ip}", MAX_FAILED_LOGINS_PER_IP, "your address"),
    ]


def _refuse_if_throttled(client: redis.Redis, counters: list[tuple[str, int, str]]) -> None:
    for key, limit, what in counters:
        if int(client.get(key) or 0) >= limit:
            wait_s = max(int(client.ttl(key)), 1)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed logins for {what}; try again in {wait_s} s",
                {"Retry-After": str(wait_s)},
            )


def _count_failure(client: redis.Redis, counters: list[tuple[str, int, str]]) -> None:
    with client.pipeline() as pipeline:
        for key, _, _ in counters:
            pipeline.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)  # the window starts at the first failure
            pipeline.incr(key)
        pipeline.execute()


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(caller: CallerDep, platform: PlatformDep) -> Response:
    """Ends the session at once (its cookie is refused from now on, even if kept)."""
    end_session(platform, caller)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me")
def me(caller: CallerDep, session: SessionDep, request: Request) -> Me:
    """Who the caller is, and its role in every project it may see."""
    csrf = request.cookies.get(CSRF_COOKIE) if caller.via == "session" else None
    return _me(session, caller, csrf)


def _me(session: Session, caller: Caller, csrf: str | None) -> Me:
    return Me(
        username=caller.name,
        admin=caller.admin,
        via=caller.via,
        scopes=sorted(caller.scopes, key=accounts.SCOPES.index),
        projects=_projects(session, caller),
        csrf_token=csrf,
    )


# API tokens


@router.get("/tokens", responses=errors(409))
def list_tokens(caller: CallerDep, session: SessionDep) -> list[TokenOut]:
    """The caller's own tokens (never the tokens themselves: only their names, scopes and times)."""
    user_id = caller.require_user()
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at))
    return [TokenOut.model_validate(row) for row in rows]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_token(body: TokenCreate, caller: CallerDep, session: SessionDep) -> CreatedToken:
    """A new token for the caller, with at most the caller's own scopes; the answer is the only time it is shown."""
    user_id = caller.require_user()
    for scope in body.scopes:
        caller.require_scope(scope)
    if "admin" in body.scopes and not caller.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only site admins may create tokens with the 'admin' scope")
    user = session.get(User, user_id)
    assert user is not None, "the guard admitted an existing user"
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    record, token = accounts.create_token(session, user, body.name, list(dict.fromkeys(body.scopes)), expires)
    audit(session, caller.name, "token.create", record.id, ip=caller.ip, name=body.name, scopes=record.scopes)
    session.commit()
    return CreatedToken(**TokenOut.model_validate(record).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def revoke_token(token_id: str, caller: CallerDep, session: SessionDep) -> Response:
    """Revokes one of the caller's tokens (site admins: anyone's); it fails from the next request on."""
    record = session.get(ApiToken, token_id)
    if record is None or (record.user_id != caller.user_id and not caller.admin):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {excerpt(token_id)} of yours")
    caller.require_scope("write")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit(session, caller.name, "token.revoke", record.id, ip=caller.ip, name=record.name)
        session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Projects and members


@router.get("/projects")
def list_projects(caller: CallerDep, session: SessionDep) -> list[ProjectRole]:
    """The projects the caller may see, with its role in each."""
    return _projects(session, caller)


def _projects(session: Session, caller: Caller) -> list[ProjectRole]:
    query = select(Project).order_by(Project.name)
    if (visible := caller.visible_projects()) is not None:
        query = query.where(Project.id.in_(list(visible)))
    return [ProjectRole(id=p.id, name=p.name, role=caller.role(p.id) or "viewer") for p in session.scalars(query)]


@router.post("/projects", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_project(body: ProjectCreate, caller: CallerDep, session: SessionDep) -> ProjectRole:
    """A new project, owned by its creator."""
    caller.require_scope("write")
    project = Project(name=body.name)
    session.add(project)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"a project named {body.name!r} exists; choose another name"
        ) from None
    if caller.user_id is not None:
        session.add(Membership(user_id=caller.user_id, project_id=project.id, role="owner"))
    audit(session, caller.name, "project.create", project.name, project_id=project.id, ip=caller.ip)
    session.commit()
    return ProjectRole(id=project.id, name=project.name, role="owner")


@router.get("/projects/{project_id}/members", responses=errors(404))
def list_members(project_id: str, caller: CallerDep, session: SessionDep) -> list[MemberOut]:
    caller.require(project_id, "viewer", no_project(project_id))
    _project(session, project_id)
    rows = session.execute(
        select(Membership.user_id, User.username, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    )
    return [MemberOut(user_id=user_id, username=username, role=cast(Role, role)) for user_id, username, role in rows]


@router.put("/projects/{project_id}/members/{username}", responses=errors(404, 409))
def set_member(project_id: str, username: str, body: MemberSet, caller: CallerDep, session: SessionDep) -> MemberOut:
    """Adds the user to the project with `role`, or changes its role (owners of the project only)."""
    caller.require(project_id, "owner", no_project(project_id))
    _project(session, project_id)
    user = _user_named(session, username)
    membership = session.get(Membership, (user.id, project_id))
    before = membership.role if membership else None
    if before == "owner" and body.role != "owner":
        _keep_an_owner(session, project_id)
    if membership is None:
        session.add(Membership(user_id=user.id, project_id=project_id, role=body.role))
    else:
        membership.role = body.role
    audit(
        session,
        caller.name,
        "member.set",
        user.username,
        project_id=project_id,
        ip=caller.ip,
        before=before,
        role=body.role,
    )
    session.commit()
    return MemberOut(user_id=user.id, username=user.username, role=body.role)


@router.delete(
    "/projects/{project_id}/members/{username}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409)
)
def remove_member(project_id: str, username: str, caller: CallerDep, session: SessionDep) -> Response:
    """Removes the user from the project (owners of the project only)."""
    caller.require(project_id, "owner", no_project(project_id))
    user = _user_named(session, username)
    membership = session.get(Membership, (user.id, project_id))
    if membership is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{user.username} is not a member of project {project_id}")
    if membership.role == "owner":
        _keep_an_owner(session, project_id)
    session.delete(membership)
    audit(
        session,
        caller.name,
        "member.remove",
        user.username,
        project_id=project_id,
        ip=caller.ip,
        before=membership.role,
    )
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, no_project(project_id))
    return project


def _user_named(session: Session, username: str) -> User:
    user = accounts.find_user(session, username)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {excerpt(username)}; a site admin creates users")
    return user


def _keep_an_owner(session: Session, project_id: str) -> None:
    owners = session.scalar(select(func.count()).where(Membership.project_id == project_id, Membership.role == "owner"))
    if owners == 1:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "a project keeps at least one owner: make another member owner first"
        )


# Users and the audit log (site admins)


@router.get("/users")
def list_users(caller: CallerDep, session: SessionDep) -> list[UserOut]:
    caller.require_admin()
    return [UserOut.model_validate(user) for user in session.scalars(select(User).order_by(User.username))]


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=errors(409))
def create_user(body: UserCreate, caller: CallerDep, session: SessionDep) -> UserOut:
    """Invites a user: it can log in with this password, and is a viewer of the default project."""
    caller.require_admin()
    try:
        user = accounts.create_user(session, body.username, body.password, email=body.email, admin=body.admin)
    except AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    audit(session, caller.name, "user.create", user.username, ip=caller.ip, admin=user.admin)
    session.commit()
    return UserOut.model_validate(user)


@router.patch("/users/{user_id}", responses=errors(404, 409))
def update_user(user_id: str, body: UserUpdate, caller: CallerDep, session: SessionDep) -> UserOut:
    """Deactivates or reactivates a user (a deactivated one's sessions and tokens fail at once), makes it a site
    admin or not, or sets its password."""
    caller.require_admin()
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {excerpt(user_id)}")
    if user.id == caller.user_id and (body.active is False or body.admin is False):
        raise HTTPException(status.HTTP_409_CONFLICT, "you cannot deactivate or demote yourself; another admin can")
    changed = body.model_dump(exclude_none=True, exclude={"password"})
    for name, value in changed.items():
        setattr(user, name, value)
    if body.password is not None:
        user.password_hash = accounts.hash_password(body.password)
    audit(
        session, caller.name, "user.update", user.username, ip=caller.ip, **changed, password=body.password is not None
    )
    session.commit()
    return UserOut.model_validate(user)


@router.get("/audit")
def list_audit(
    caller: CallerDep,
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AuditPage:
    """Logins, token creation and revocation, role changes and deletes, newest first."""
    caller.require_admin()
    query = select(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return AuditPage(items=[AuditOut.model_validate(row) for row in rows], total=total)

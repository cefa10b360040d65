"""What routes receive through Depends: the platform, a database session, the caller (azuraforge_api.auth) and
the records a path names, once the caller's role in their project is checked."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from azuraforge_api.accounts import Role
from azuraforge_api.auth import SESSION_COOKIE, CallerDep
from azuraforge_api.platform import Platform
from azuraforge_common import store
from azuraforge_common.models import Experiment
from azuraforge_learner.config import excerpt

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one on a worker thread, and on a busy
# machine each trip there and back costs more than the dependency itself.


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_session(platform: Annotated[Platform, Depends(get_platform)]) -> AsyncIterator[Session]:
    """A session for the route's thread. It connects on first use, there; closing it is free once the route has
    committed, else it hands the connection back (a rollback) on a worker thread."""
    session = platform.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):  # a client gone mid-request must not leak the connection
                await run_in_threadpool(session.close)
        else:
            session.close()


bearer = HTTPBearer(
    auto_error=False,
    description="An API token (POST /api/v1/tokens), or the bootstrap token AZURAFORGE_API_TOKEN; checked before "
    "the body is read by azuraforge_api.guard, so this only documents it.",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The session of POST /api/v1/auth/login; requests that change something also send X-CSRF-Token.",
)


PlatformDep = Annotated[Platform, Depends(get_platform)]
SessionDep = Annotated[Session, Depends(get_session)]


def experiment_for(role: Role) -> Callable[[str, CallerDep, PlatformDep], Experiment]:
    """A dependency giving the path's experiment if the caller has `role` in its project: 404 when the caller
    cannot see it (as for a missing one), 403 when it sees it with a lower role. Read in a session of its own,
    closed before the route runs (predict holds none while a model loads)."""

    def experiment(experiment_id: str, caller: CallerDep, platform: PlatformDep) -> Experiment:
        with platform.sessions() as session:
            found = store.get_experiment(session, experiment_id)
        return caller.record(found, role, f"no experiment {excerpt(experiment_id)}")

    return experiment


ViewedExperiment = Annotated[Experiment, Depends(experiment_for("viewer"))]
EditedExperiment = Annotated[Experiment, Depends(experiment_for("editor"))]

"""What routes receive through Depends: the platform, a database session and who is acting."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from azuraforge_api.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_session(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[Session]:
    with platform.sessions() as session:
        yield session


bearer = HTTPBearer(
    auto_error=False,
    description="Needed when the API runs with AZURAFORGE_API_TOKEN set; checked (before the body is read) by "
    "azuraforge_api.guard, so this only documents it.",
)


def get_actor(platform: Annotated[Platform, Depends(get_platform)]) -> str:
    """Who is acting, for the registry's records: there are no user accounts yet, so the holder of the API token,
    or a local user when the API runs without one."""
    return "token holder" if platform.settings.api_token else "local user"


PlatformDep = Annotated[Platform, Depends(get_platform)]
ActorDep = Annotated[str, Depends(get_actor)]
SessionDep = Annotated[Session, Depends(get_session)]

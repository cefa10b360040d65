"""What routes receive through Depends: the platform and a database session."""

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


PlatformDep = Annotated[Platform, Depends(get_platform)]
SessionDep = Annotated[Session, Depends(get_session)]

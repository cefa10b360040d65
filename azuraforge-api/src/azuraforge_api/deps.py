"""What routes receive through Depends: the platform, a database session, and the token check."""

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from azuraforge_api.platform import Platform

TOKEN_HELP = "send the API token: header 'Authorization: Bearer <AZURAFORGE_API_TOKEN>' (WebSocket: ?token=)"


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_session(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[Session]:
    with platform.sessions() as session:
        yield session


def token_matches(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


_bearer = HTTPBearer(auto_error=False, description="Needed when the API runs with AZURAFORGE_API_TOKEN set.")


def require_token(
    platform: Annotated[Platform, Depends(get_platform)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if not token_matches(platform.settings.api_token, credentials.credentials if credentials else None):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"missing or wrong API token; {TOKEN_HELP}", {"WWW-Authenticate": "Bearer"}
        )


PlatformDep = Annotated[Platform, Depends(get_platform)]
SessionDep = Annotated[Session, Depends(get_session)]

"""MLflow's error answers: `{"error_code": ..., "message": ...}` with the status its server uses per code, so the
client raises the same MlflowException it would against an MLflow server."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from azuraforge_learner.config import excerpt

STATUS_OF = {
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
}
CODE_OF_STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}
"""The platform's refusals (azuraforge_api.auth.Caller: a record the caller may not see is a 404, as a missing
one; too low a role or token scope a 403) as MLflow's."""


class MlflowError(Exception):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error_code": self.error_code, "message": self.message}, STATUS_OF.get(self.error_code, 400)
        )


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def missing(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"] if part not in ("body", "query"))
        shown = f" (got {excerpt(error['input'])})" if "input" in error and error["type"] != "missing" else ""
        problems.append(f"'{path}': {error['msg']}{shown}")
    return "Invalid request: " + "; ".join(problems)


class MlflowRoute(APIRoute):
    """A route whose failures, including FastAPI's own body and query validation and the caller's refusals,
    answer in MLflow's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except MlflowError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return invalid(_validation_message(exc)).response()
            except HTTPException as exc:
                if exc.status_code not in CODE_OF_STATUS:
                    raise
                return MlflowError(CODE_OF_STATUS[exc.status_code], str(exc.detail)).response()

        return answer

"""Every API error is JSON with one clear message: {"error": "..."}.

FastAPI's exception handlers belong to the app, and the API is a router
mounted on someone else's app, so the routes use `ApiRoute`, which turns the
core's errors, validation failures and HTTP errors into JSON itself: the
API behaves the same whichever app includes it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from rapport.crm.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RapportError,
)


class ApiError(BaseModel):
    error: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "No API key, or an invalid or revoked one"},
    403: {"model": ApiError, "description": "The key's scope does not allow this"},
    422: {"model": ApiError, "description": "The request is not valid; nothing was changed"},
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _status_of(exc: RapportError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, ConfigurationError):
        return 503
    return 422


def validation_message(exc: RequestValidationError) -> str:
    """The first problem, as a person would say it: "body.orders.0.amount: Field required"."""
    problems = exc.errors()
    if not problems:
        return "the request is not valid"
    first = problems[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error(422, validation_message(exc))
            except HTTPException as exc:
                return error(exc.status_code, str(exc.detail), dict(exc.headers or {}))
            except RapportError as exc:
                return error(_status_of(exc), str(exc))

        return handle

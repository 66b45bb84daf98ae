"""The one error shape: ``{"detail", "code", "request_id"}`` with the contract's status codes."""

from __future__ import annotations

import math
from typing import Any

import msgspec
from quart import Response, g

FieldError = dict[str, Any]


class ApiError(Exception):
    """A request the API refuses; raised anywhere in a handler."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | list[FieldError],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def field_error(loc: list[str | int], msg: str, kind: str) -> FieldError:
    """One entry of a 422 ``detail`` list."""
    return {"loc": loc, "msg": msg, "type": kind}


def invalid(errors: list[FieldError]) -> ApiError:
    """A 422 for field validation failures."""
    return ApiError(422, "validation_error", errors)


def retry_later(status: int, code: str, detail: str, seconds: float) -> ApiError:
    """A refusal that says when to try again: ``Retry-After`` in whole seconds, at least 1."""
    return ApiError(status, code, detail, {"Retry-After": str(max(1, math.ceil(seconds)))})


def unauthorized(message: str = "Not authenticated") -> ApiError:
    """A 401 with the bearer challenge."""
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def request_id() -> str:
    """The current request's id (set before any handler runs)."""
    return str(getattr(g, "request_id", ""))


def error_response(
    status: int, code: str, detail: str | list[FieldError], headers: dict[str, str] | None = None
) -> Response:
    """Render an error in the contract's shape."""
    body = msgspec.json.encode({"detail": detail, "code": code, "request_id": request_id()})
    response = Response(body, status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response

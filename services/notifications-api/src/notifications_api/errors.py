"""The API's error tree and its one JSON shape: ``{"error": {"code", "message"}}``.

Exception tree (use cases raise these; only this module knows HTTP)::

    NotificationsError          root of every domain error
    ├── NotFound                404  no such notification for this caller
    ├── Forbidden               403  the caller may not act for that user
    ├── InvalidCursor           400  a ``cursor`` that this API did not hand out
    ├── IdempotencyConflict     409  an ``Idempotency-Key`` reused with another body
    ├── TooManyRequests         429  the caller's request rate limit is exhausted
    └── Unavailable             503  the database cannot be reached
"""

from __future__ import annotations

import logging
import math
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from qahub_contracts.api import ErrorBody, ErrorDetail

__all__ = [
    "Forbidden",
    "IdempotencyConflict",
    "InvalidCursor",
    "NotFound",
    "NotificationsError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("notifications_api.errors")


class NotificationsError(Exception):
    """Root of the API's domain errors."""

    status: int = 500
    code: str = "internal_error"


class NotFound(NotificationsError):
    status, code = 404, "not_found"


class Forbidden(NotificationsError):
    status, code = 403, "forbidden"


class Unauthorized(NotificationsError):
    status, code = 401, "unauthorized"


class InvalidCursor(NotificationsError):
    status, code = 400, "invalid_cursor"


class IdempotencyConflict(NotificationsError):
    status, code = 409, "idempotency_conflict"


class Unavailable(NotificationsError):
    status, code = 503, "unavailable"


class TooManyRequests(NotificationsError):
    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(by_alias=True), status_code=status, headers=headers)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotificationsError)  # noqa: S101 - registered for this type only
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return error_response(exc.status, exc.code, str(exc) or exc.code, headers)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)  # noqa: S101
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid", "msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return error_response(422, "validation_error", message.removeprefix("Value error, "))


def _database(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(503, "unavailable", "the database is unavailable; retry later")


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure to the one JSON error shape."""
    app.add_exception_handler(NotificationsError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(OSError, _database)
    app.add_exception_handler(Exception, _unexpected)

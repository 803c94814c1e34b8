"""The API's error tree and its one JSON shape: ``{"error": {"code", "message"}}``.

Exception tree (use cases raise these; only this module knows HTTP)::

    NotificationsError          root of every domain error
    ├── NotFound                404  no such notification for this caller
    ├── Forbidden               403  the caller may not act for that user
    ├── InvalidCursor           400  a ``cursor`` that this API did not hand out
    ├── IdempotencyConflict     409  an ``Idempotency-Key`` reused with another body
    └── TooManyRequests         429  the caller's request rate limit is exhausted

Codes are :class:`qahub_contracts.errors.ErrorCode`, shared with the relay and
the command replies. A database failure answers 503 ``unavailable``.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from qahub_contracts.api import ErrorBody, ErrorDetail
from qahub_contracts.errors import ErrorCode, code_for_status

__all__ = [
    "Forbidden",
    "IdempotencyConflict",
    "InvalidCursor",
    "NotFound",
    "NotificationsError",
    "TooManyRequests",
    "Unauthorized",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("notifications_api.errors")


class NotificationsError(Exception):
    """Root of the API's domain errors."""

    status: int = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR


class NotFound(NotificationsError):
    status, code = 404, ErrorCode.NOT_FOUND


class Forbidden(NotificationsError):
    status, code = 403, ErrorCode.FORBIDDEN


class Unauthorized(NotificationsError):
    status, code = 401, ErrorCode.UNAUTHORIZED


class InvalidCursor(NotificationsError):
    status, code = 400, ErrorCode.INVALID_CURSOR


class IdempotencyConflict(NotificationsError):
    status, code = 409, ErrorCode.IDEMPOTENCY_CONFLICT


class TooManyRequests(NotificationsError):
    status, code = 429, ErrorCode.TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    code = code_for_status(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else code.value
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)  # noqa: S101
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid", "msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        return error_response(400, ErrorCode.INVALID_JSON, "the request body is not valid JSON")
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return error_response(422, ErrorCode.VALIDATION_ERROR, message.removeprefix("Value error, "))


def _database(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(503, ErrorCode.UNAVAILABLE, "the database is unavailable; retry later")


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, ErrorCode.INTERNAL_ERROR, "internal error")


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

"""The relay's error tree and its one JSON shape (``{"error": {"code", "message"}}``).

``RelayError`` is the root; each subclass carries the HTTP status and a stable
code from the one vocabulary both services share (:mod:`qahub_contracts.errors`).
Only this module knows how errors become HTTP answers; a request uvicorn cannot
parse is answered in the same shape by :mod:`stream_relay.server`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qahub_contracts.api import ErrorBody, ErrorDetail
from qahub_contracts.errors import ErrorCode, code_for_status

__all__ = [
    "NotAuthenticated",
    "Overloaded",
    "RelayError",
    "ShuttingDown",
    "TooManyStreamsError",
    "error_response",
    "install_error_handlers",
    "log_unexpected",
    "relay_error_response",
    "unexpected_error_response",
]

log = logging.getLogger("stream_relay.errors")


class RelayError(Exception):
    """Root of every error the relay answers with."""

    status: ClassVar[int] = 500
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR


class NotAuthenticated(RelayError):
    """No token, or a token that does not verify (401)."""

    status = 401
    code = ErrorCode.UNAUTHORIZED


class TooManyStreamsError(RelayError):
    """The user already has ``MAX_STREAMS_PER_USER`` open streams (429)."""

    status = 429
    code = ErrorCode.TOO_MANY_STREAMS


class ShuttingDown(RelayError):
    """The relay is stopping; connect to another instance (503)."""

    status = 503
    code = ErrorCode.SHUTTING_DOWN


class Overloaded(RelayError):
    """The relay's event loop runs late: come back after ``retry_after`` seconds (503)."""

    status = 503
    code = ErrorCode.OVERLOADED

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_response(status: int, code: ErrorCode, message: str) -> JSONResponse:
    """The one JSON error shape; 401 answers also carry ``WWW-Authenticate``."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(by_alias=True), status_code=status, headers=headers)


def relay_error_response(exc: RelayError) -> JSONResponse:
    """The answer to ``exc``: its status, its code, its message (and ``Retry-After``)."""
    response = error_response(exc.status, exc.code, str(exc) or exc.code)
    if isinstance(exc, Overloaded):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def log_unexpected(exc: BaseException) -> None:
    """A bug: one log record with its traceback."""
    log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """A 500 for a bug: logged with its traceback, answered without details."""
    log_unexpected(exc)
    return error_response(500, ErrorCode.INTERNAL_ERROR, "internal error")


async def _relay_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RelayError)  # noqa: S101 - registered for RelayError only
    return relay_error_response(exc)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    return error_response(exc.status_code, code_for_status(exc.status_code), str(exc.detail))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, ErrorCode.VALIDATION_ERROR, str(exc).splitlines()[0][:200])


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""
    app.add_exception_handler(RelayError, _relay_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

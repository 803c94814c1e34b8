"""The error codes both services send in ``{"error": {"code", "message"}}``.

One vocabulary for REST answers, the relay's answers, command replies and the
``x-qahub-error`` header of a dead-lettered command (DESIGN §4, §9): a client
can act on a code whichever door it came through. Codes are stable; a new
condition gets a new code, an existing code never changes meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from http import HTTPStatus
from typing import Final

from qahub_contracts.api import ErrorBody, ErrorDetail

__all__ = ["ErrorCode", "code_for_status", "raw_error_response"]


class ErrorCode(StrEnum):
    """Every code a QaHub notifications service answers with."""

    BAD_REQUEST = "bad_request"
    """400: a request the server could not parse (malformed HTTP, a bad parameter)."""
    INVALID_JSON = "invalid_json"
    """400: a body (or a command) that is not JSON."""
    INVALID_CURSOR = "invalid_cursor"
    """400: a ``cursor`` this API did not hand out."""
    UNAUTHORIZED = "unauthorized"
    """401: no token, or one that does not verify."""
    FORBIDDEN = "forbidden"
    """403: the caller may not act for that user."""
    NOT_FOUND = "not_found"
    """404: no such resource for this caller."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """405."""
    CONFLICT = "conflict"
    """409 without a more precise code."""
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    """409: an Idempotency-Key (or commandId) reused with another request."""
    PAYLOAD_TOO_LARGE = "payload_too_large"
    """413: a body over ``MAX_BODY_BYTES``."""
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    """415."""
    HEADERS_TOO_LARGE = "headers_too_large"
    """431: a request head over the server's bound."""
    VALIDATION_ERROR = "validation_error"
    """422: well-formed JSON that breaks the schema."""
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    """A command or event of a major ``schemaVersion`` this reader does not know."""
    TOO_MANY_REQUESTS = "too_many_requests"
    """429: the caller's request rate is exhausted (``Retry-After`` says when to retry)."""
    TOO_MANY_STREAMS = "too_many_streams"
    """429: the user already holds ``MAX_STREAMS_PER_USER`` streams."""
    UNAVAILABLE = "unavailable"
    """503: a dependency (the database) cannot be reached; retry later."""
    SHUTTING_DOWN = "shutting_down"
    """503: this instance is stopping; connect to another."""
    OVERLOADED = "overloaded"
    """503: this instance is too busy to open a stream now (``Retry-After`` says when)."""
    INTERNAL_ERROR = "internal_error"
    """500: a bug; logged with its traceback, answered without details."""


_BY_STATUS: Final = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.TOO_MANY_REQUESTS,
    431: ErrorCode.HEADERS_TOO_LARGE,
    503: ErrorCode.UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    """The generic code of an HTTP status, for answers no domain error names.

    A 4xx without its own code is ``bad_request``; anything else unknown is
    ``internal_error``.
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ErrorCode.BAD_REQUEST if 400 <= status < 500 else ErrorCode.INTERNAL_ERROR


def raw_error_response(
    status: int, code: ErrorCode, message: str, extra: Iterable[tuple[bytes, bytes]] = ()
) -> bytes:
    """A whole ``connection: close`` HTTP/1.1 response in the one JSON error shape, as
    bytes: what a server's protocol writes itself for a request no app will see
    (a head it cannot parse, or one over its bound). ``extra``: more header fields."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message)).model_dump_json(by_alias=True)
    head = [b"HTTP/1.1 %d %b\r\n" % (status, HTTPStatus(status).phrase.encode())]
    head += [b"%b: %b\r\n" % (name, value) for name, value in extra]
    head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
    head.append(b"connection: close\r\n\r\n")
    return b"".join(head) + body.encode()

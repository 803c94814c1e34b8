"""The client's error tree: every failure the API, the relay or a command reply reports.

Exception tree (each carries ``.status``, ``.code`` and ``.message``)::

    QaHubError              root; any other refusal (e.g. 405) is raised as this class
    ├── Unauthorized        401  missing, invalid or expired token ("unauthorized")
    ├── Forbidden           403  the token may not act for that user ("forbidden")
    ├── NotFound            404  no such notification for this caller ("not_found")
    ├── ValidationFailed    400, 409, 413, 415, 422  the request itself is wrong: a bad
    │                            field, a body too large, an Idempotency-Key reused with
    │                            another body, a cursor this API did not hand out
    ├── RateLimited         429  too many requests or streams; ``.retry_after`` in seconds
    └── Unavailable         5xx, or no answer at all (connection refused, timeout, broker
                                 gone); ``.status`` is ``None`` when nothing answered

``.code`` is the API's machine-readable code (``{"error": {"code", "message"}}``),
``.message`` its human-readable message. A command reply's error maps onto the same
classes by its code, with the status REST answers for that code.
"""

from __future__ import annotations

import email.utils
import time
from typing import Final

import httpx

__all__ = [
    "Forbidden",
    "NotFound",
    "QaHubError",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "error_from_code",
    "error_from_response",
    "retry_after_seconds",
]


class QaHubError(Exception):
    """Root of every error this client raises."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r})"


class Unauthorized(QaHubError):
    """401: the token is missing, invalid or expired."""


class Forbidden(QaHubError):
    """403: the token may not act for that user."""


class NotFound(QaHubError):
    """404: no such notification for this caller."""


class ValidationFailed(QaHubError):
    """400/409/413/415/422: the request itself is wrong; retrying it cannot help."""


class RateLimited(QaHubError):
    """429: too many requests or streams; ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: str = "too_many_requests",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class Unavailable(QaHubError):
    """5xx or no answer: the service (or the broker) cannot serve the request now."""


_BY_STATUS: Final[dict[int, type[QaHubError]]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: ValidationFailed,
    413: ValidationFailed,
    415: ValidationFailed,
    422: ValidationFailed,
    429: RateLimited,
}

_STATUS_OF_CODE: Final = {
    "bad_request": 400,
    "invalid_cursor": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "idempotency_conflict": 409,
    "payload_too_large": 413,
    "validation_error": 422,
    "too_many_requests": 429,
    "unavailable": 503,
}

_CODE_OF_STATUS: Final = {
    status: code
    for code, status in _STATUS_OF_CODE.items()
    if code not in ("invalid_cursor", "idempotency_conflict")
}


def _class_for(status: int) -> type[QaHubError]:
    if status >= 500:
        return Unavailable
    return _BY_STATUS.get(status, QaHubError)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta or HTTP date), ``None`` if absent or bad."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> QaHubError:
    """The error a non-2xx ``response`` stands for (its body read as the API's error shape)."""
    status = response.status_code
    code, message = _CODE_OF_STATUS.get(status, "error"), response.reason_phrase or f"HTTP {status}"
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError, httpx.ResponseNotRead):
        pass
    kind = _class_for(status)
    if kind is RateLimited:
        return RateLimited(
            message, status=status, code=code, retry_after=retry_after_seconds(response)
        )
    return kind(message, status=status, code=code)


def error_from_code(code: str, message: str) -> QaHubError:
    """The error a command reply's ``{"code", "message"}`` stands for (REST's mapping)."""
    status = _STATUS_OF_CODE.get(code)
    if status is None:
        return QaHubError(message, code=code)
    return _class_for(status)(message, status=status, code=code)

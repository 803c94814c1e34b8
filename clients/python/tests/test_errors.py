"""One error tree: each answer maps to the class a caller can act on."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from qahub_notify_client import (
    Forbidden,
    NotFound,
    QaHubError,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from qahub_notify_client._errors import error_from_code, error_from_response, retry_after_seconds


def _answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class TestFromResponse:
    """Status picks the class; the API's body gives code and message."""

    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (400, ValidationFailed),
            (401, Unauthorized),
            (403, Forbidden),
            (404, NotFound),
            (405, QaHubError),
            (409, ValidationFailed),
            (413, ValidationFailed),
            (422, ValidationFailed),
            (429, RateLimited),
            (500, Unavailable),
            (502, Unavailable),
            (503, Unavailable),
        ],
    )
    def test_status_to_class(self, status, kind):
        error = error_from_response(_answer(status, {"error": {"code": "c", "message": "m"}}))
        assert type(error) is kind
        assert (error.status, error.code, error.message) == (status, "c", "m")

    def test_a_body_not_in_the_api_shape_still_maps(self):
        error = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))
        assert isinstance(error, Unavailable)
        assert error.status == 502
        assert error.message == "Bad Gateway"

    def test_rate_limited_carries_retry_after(self):
        error = error_from_response(_answer(429, None, **{"Retry-After": "3"}))
        assert isinstance(error, RateLimited)
        assert error.retry_after == 3.0
        assert error.code == "too_many_requests"


class TestRetryAfter:
    """Retry-After as seconds or as an HTTP date; garbage is no hint."""

    def test_http_date(self):
        later = email.utils.formatdate(time.time() + 30, usegmt=True)
        seconds = retry_after_seconds(_answer(429, None, **{"Retry-After": later}))
        assert seconds == pytest.approx(30, abs=2)

    def test_garbage_and_absent(self):
        assert retry_after_seconds(_answer(429, None, **{"Retry-After": "soon"})) is None
        assert retry_after_seconds(_answer(429)) is None


class TestFromReplyCode:
    """A command reply's code maps onto the same classes, with REST's status."""

    @pytest.mark.parametrize(
        ("code", "kind", "status"),
        [
            ("unauthorized", Unauthorized, 401),
            ("forbidden", Forbidden, 403),
            ("validation_error", ValidationFailed, 422),
            ("idempotency_conflict", ValidationFailed, 409),
            ("too_many_requests", RateLimited, 429),
            ("unavailable", Unavailable, 503),
            ("something_new", QaHubError, None),
        ],
    )
    def test_code_to_class(self, code, kind, status):
        error = error_from_code(code, "why")
        assert type(error) is kind
        assert (error.status, error.code, error.message) == (status, code, "why")

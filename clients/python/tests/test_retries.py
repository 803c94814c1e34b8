"""``send`` retries timeouts, 429 and 5xx under one Idempotency-Key, and nothing else.

A small proxy in front of the real API plays the failures (tests/support/flaky_proxy.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tests.support.flaky_proxy import flaky_proxy

from qahub_contracts.api import Notification
from qahub_notify_client import (
    AsyncNotificationsClient,
    NotificationsClient,
    RateLimited,
    Unavailable,
    ValidationFailed,
)

from .conftest import Stack

Send = Callable[..., Awaitable[Notification]]


@pytest.fixture(params=["sync", "async"])
async def proxied(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[Any]:
    """``(proxy, send)``: ``send(**kw)`` calls the sync or the asyncio client through it."""
    async with flaky_proxy(stack.api_url) as (proxy, url):
        token, options = stack.service_token(), {"timeout": 1.0, "retries": 3}

        async def send(**kw: Any) -> Notification:
            kw = {"to": "alice", "type": "t", "data": "x", **kw}
            if request.param == "sync":
                with NotificationsClient(url, token, **options) as client:
                    return await asyncio.to_thread(lambda: client.send(**kw))
            async with AsyncNotificationsClient(url, token, **options) as aclient:
                return await aclient.send(**kw)

        yield proxy, send


async def _total(stack: Stack) -> int:
    async with AsyncNotificationsClient(stack.api_url, stack.token("alice")) as alice:
        return (await alice.stats()).total


class TestRetries:
    """Transient failures are retried with the key of the first attempt."""

    async def test_503_twice_then_created(self, proxied):
        proxy, send = proxied
        proxy.script[:] = ["503", "503"]
        created = await send()
        assert len(proxy.keys) == 3
        assert proxy.keys[0] is not None
        assert len(set(proxy.keys)) == 1
        assert created.data == "x"

    async def test_a_lost_answer_is_retried_and_creates_one(self, proxied, stack: Stack):
        proxy, send = proxied
        proxy.script[:] = ["lose"]
        await send(idempotency_key="invoice-1")
        assert proxy.keys == ["invoice-1", "invoice-1"]
        assert await _total(stack) == 1

    async def test_a_timeout_is_retried_with_the_same_key(self, proxied, stack: Stack):
        proxy, send = proxied
        proxy.script[:] = ["stall"]
        await send()
        assert len(proxy.keys) == 2
        assert len(set(proxy.keys)) == 1
        assert await _total(stack) == 1

    async def test_429_waits_for_retry_after(self, proxied):
        proxy, send = proxied
        proxy.script[:] = ["429"]
        started = time.monotonic()
        await send()
        assert time.monotonic() - started >= 1.0
        assert len(proxy.keys) == 2

    async def test_gives_up_after_the_bounded_retries(self, proxied, stack: Stack):
        proxy, send = proxied
        proxy.script[:] = ["503"] * 10
        with pytest.raises(Unavailable) as caught:
            await send()
        assert caught.value.status == 503
        assert len(proxy.keys) == 4
        assert await _total(stack) == 0

    async def test_a_refusal_is_not_retried(self, proxied):
        proxy, send = proxied
        with pytest.raises(ValidationFailed):
            await send(type="")
        assert len(proxy.keys) == 1


def test_retry_after_beyond_the_bound_is_not_waited_for():
    """A server asking for minutes gets the error at once, not a hung call."""
    from qahub_notify_client._rest import Backoff  # noqa: PLC0415

    backoff = Backoff()
    assert backoff.delay(1, RateLimited("slow down", retry_after=3600)) is None
    assert backoff.delay(1, RateLimited("slow down", retry_after=2)) == pytest.approx(2, abs=0.3)
    assert backoff.delay(4, Unavailable("down")) is None

"""NotificationsClient against the real API: every method, and errors mapped to the tree."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TypeVar

import pytest

from qahub_contracts.api import MAX_DATA_BYTES
from qahub_notify_client import (
    Forbidden,
    NotFound,
    NotificationsClient,
    QaHubError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

from .conftest import Stack

T = TypeVar("T")


async def blocking(work: Callable[[], T]) -> T:
    """Run a blocking client call off the event loop that serves the API and the relay."""
    return await asyncio.to_thread(work)


@pytest.fixture
async def service(stack: Stack):
    client = NotificationsClient(stack.api_url, token=stack.service_token())
    yield client
    client.close()


@pytest.fixture
async def alice(stack: Stack):
    client = NotificationsClient(stack.api_url, token=stack.token("alice"))
    yield client
    client.close()


class TestMethods:
    """Each method does what DESIGN §4 says, as the recipient sees it."""

    async def test_send_then_get_stats_and_list(self, service, alice):
        sent = await blocking(lambda: service.send("alice", "invoice.paid", {"invoice": 1}))
        assert sent.notifiable_id == "alice"
        assert sent.read_at is None
        assert (await blocking(lambda: alice.get(sent.id))) == sent
        stats = await blocking(alice.stats)
        assert (stats.total, stats.unread, stats.read) == (1, 1, 0)
        assert [n.id for n in await blocking(lambda: list(alice.list()))] == [sent.id]

    async def test_list_follows_next_cursor_newest_first(self, service, alice):
        created = [
            (await blocking(lambda i=i: service.send("alice", "t", f"n{i}"))).id for i in range(105)
        ]
        listed = await blocking(lambda: [n.id for n in alice.list()])
        assert listed == created[::-1]

    async def test_mark_read_unread_and_status_filter(self, service, alice):
        first = await blocking(lambda: service.send("alice", "t", "one"))
        second = await blocking(lambda: service.send("alice", "t", "two"))
        read = await blocking(lambda: alice.mark_read(first.id))
        assert read.read_at is not None
        assert [n.id for n in await blocking(lambda: list(alice.list("read")))] == [first.id]
        assert [n.id for n in await blocking(lambda: list(alice.list("unread")))] == [second.id]
        unread = await blocking(lambda: alice.mark_read(first.id, read=False))
        assert unread.read_at is None

    async def test_mark_all_read_with_and_without_ids(self, service, alice):
        ids = [
            (await blocking(lambda i=i: service.send("alice", "t", str(i)))).id for i in range(3)
        ]
        assert await blocking(lambda: alice.mark_all_read([ids[0]])) == 1
        assert await blocking(alice.mark_all_read) == 2
        assert (await blocking(alice.stats)).unread == 0

    async def test_delete_and_delete_many(self, service, alice):
        ids = [
            (await blocking(lambda i=i: service.send("alice", "t", str(i)))).id for i in range(3)
        ]
        await blocking(lambda: alice.delete(ids[0]))
        with pytest.raises(NotFound):
            await blocking(lambda: alice.get(ids[0]))
        assert await blocking(lambda: alice.delete_many([ids[1], ids[2], uuid.uuid4()])) == 2
        assert (await blocking(alice.stats)).total == 0

    async def test_same_idempotency_key_creates_one(self, service, alice):
        first = await blocking(lambda: service.send("alice", "t", "x", idempotency_key="k-1"))
        again = await blocking(lambda: service.send("alice", "t", "x", idempotency_key="k-1"))
        assert again.id == first.id
        assert (await blocking(alice.stats)).total == 1


class TestErrors:
    """Refusals raise the subclass for their status, with the API's code and message."""

    async def test_unknown_id_is_not_found(self, alice):
        with pytest.raises(NotFound) as caught:
            await blocking(lambda: alice.get(uuid.uuid4()))
        assert (caught.value.status, caught.value.code) == (404, "not_found")

    async def test_user_token_may_not_notify_another_user(self, alice):
        with pytest.raises(Forbidden) as caught:
            await blocking(lambda: alice.send("bob", "t", "x"))
        assert caught.value.status == 403
        assert caught.value.message

    async def test_invalid_token_is_unauthorized(self, stack: Stack):
        with (
            NotificationsClient(stack.api_url, token="not-a-jwt") as client,
            pytest.raises(Unauthorized) as caught,
        ):
            await blocking(client.stats)
        assert caught.value.status == 401

    async def test_oversized_data_is_validation_failed_and_not_retried(self, service):
        with pytest.raises(ValidationFailed) as caught:
            await blocking(lambda: service.send("alice", "t", "x" * (MAX_DATA_BYTES + 1)))
        assert caught.value.status == 422

    async def test_no_server_is_unavailable_without_status(self):
        with (
            NotificationsClient("http://127.0.0.1:9", token="t", retries=1) as client,
            pytest.raises(Unavailable) as caught,
        ):
            await blocking(lambda: client.send("alice", "t", "x"))
        assert caught.value.status is None
        assert isinstance(caught.value, QaHubError)


class TestTokenCallable:
    """A callable token is asked per request, and again once after a 401."""

    async def test_expired_token_is_renewed_after_a_401(self, stack: Stack):
        tokens = [stack.token("alice", ttl_seconds=-10), stack.token("alice")]
        asked: list[str] = []

        def token() -> str:
            asked.append(tokens[min(len(asked), 1)])
            return asked[-1]

        with NotificationsClient(stack.api_url, token=token) as client:
            assert (await blocking(client.stats)).total == 0
        assert asked == tokens

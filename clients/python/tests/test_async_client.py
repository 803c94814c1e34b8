"""AsyncNotificationsClient against the real API: the same methods, awaitable."""

from __future__ import annotations

import uuid

import pytest

from qahub_notify_client import AsyncNotificationsClient, NotFound, Unauthorized

from .conftest import Stack


class TestMethods:
    """Each awaitable method does what its blocking twin does."""

    async def test_every_method(self, stack: Stack):
        async with (
            AsyncNotificationsClient(stack.api_url, stack.service_token()) as service,
            AsyncNotificationsClient(stack.api_url, stack.token("alice")) as alice,
        ):
            sent = [await service.send("alice", "t", f"n{i}") for i in range(4)]
            assert await alice.get(sent[0].id) == sent[0]
            assert [n.id async for n in alice.list()] == [n.id for n in reversed(sent)]
            assert (await alice.mark_read(sent[0].id)).read_at is not None
            assert [n.id async for n in alice.list("read")] == [sent[0].id]
            assert (await alice.mark_read(sent[0].id, read=False)).read_at is None
            assert await alice.mark_all_read([sent[1].id]) == 1
            assert await alice.mark_all_read() == 3
            await alice.delete(sent[0].id)
            with pytest.raises(NotFound):
                await alice.get(sent[0].id)
            assert await alice.delete_many([sent[1].id, sent[2].id, uuid.uuid4()]) == 2
            stats = await alice.stats()
        assert (stats.total, stats.unread, stats.read) == (1, 0, 1)

    async def test_a_coroutine_token_is_awaited_and_renewed_after_a_401(self, stack: Stack):
        tokens = iter([stack.token("alice", ttl_seconds=-10), stack.token("alice")])
        asked = 0

        async def token() -> str:
            nonlocal asked
            asked += 1
            return next(tokens)

        async with AsyncNotificationsClient(stack.api_url, token) as alice:
            assert (await alice.stats()).total == 0
        assert asked == 2

    async def test_a_fixed_refused_token_raises(self, stack: Stack):
        async with AsyncNotificationsClient(stack.api_url, "not-a-jwt") as client:
            with pytest.raises(Unauthorized):
                await client.stats()

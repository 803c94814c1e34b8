"""Snapshots per user: coalesced, shared only while exact (stream_relay.snapshot_cache)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated
from stream_relay.indexed_event import IndexedEvent
from stream_relay.replay import ReplayIndex
from stream_relay.snapshot import MISSING, Snapshot
from stream_relay.snapshot_cache import SnapshotCache


def created(user: str) -> NotificationCreated:
    notification = Notification(
        id=uuid4(),
        type="t",
        notifiable_id=user,
        data="d",
        read_at=None,
        created_at=datetime.now(UTC),
    )
    return NotificationCreated(
        user_id=user, stats=Stats(total=1, unread=1, read=0), notification=notification
    )


class FakeClient:
    """Answers each fetch when the test releases it; records tokens and overlaps."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.gates: list[asyncio.Event] = []
        self.answers: list[Snapshot] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0
        self.queued = False  # hold on_send until the gate opens: a request waiting its turn

    async def fetch(self, token, on_send=None) -> Snapshot:
        self.tokens.append(token)
        self.requests += 1
        gate = asyncio.Event()
        self.gates.append(gate)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if not self.queued and on_send is not None:
                on_send()
            await gate.wait()
            if self.queued and on_send is not None:
                on_send()
            return self.answers.pop(0) if self.answers else _snapshot(len(self.tokens))
        finally:
            self.in_flight -= 1

    async def answer(self, index: int = -1) -> None:
        self.gates[index].set()
        await asyncio.sleep(0)


def _snapshot(total: int) -> Snapshot:
    return Snapshot(Stats(total=total, unread=total, read=0), [])


@pytest.fixture
def index() -> ReplayIndex:
    return ReplayIndex(max_per_user=100, max_age_seconds=3600)


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


def cache(client, index, *, reuse: float = 10.0, max_users: int = 100) -> SnapshotCache:
    return SnapshotCache(
        client, index, reuse_seconds=reuse, max_users=max_users, registry=CollectorRegistry()
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class TestCoalescing:
    """One request per user at a time, shared by every stream it is exact for."""

    async def test_streams_of_one_user_arriving_together_share_one_request(self, client, index):
        snapshots = cache(client, index)
        waiting = [asyncio.create_task(snapshots.get("alice", f"t{i}")) for i in range(10)]
        await settle()
        await client.answer()
        got = await asyncio.gather(*waiting)
        assert client.tokens == ["t0"]
        assert all(s is got[0] for s in got)

    async def test_users_never_share(self, client, index):
        snapshots = cache(client, index)
        alice = asyncio.create_task(snapshots.get("alice", "a"))
        bob = asyncio.create_task(snapshots.get("bob", "b"))
        await settle()
        await client.answer(0)
        await client.answer(1)
        assert (await alice) is not (await bob)
        assert sorted(client.tokens) == ["a", "b"]

    async def test_an_event_of_the_user_after_the_request_went_out_needs_a_new_one(
        self, client, index
    ):
        """The request may have read the database before that event's commit."""
        snapshots = cache(client, index)
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        index.add(IndexedEvent.from_event(0, created("alice")))
        second = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        assert client.tokens == ["t1"]  # one at a time: the second waits
        await client.answer(0)
        old = await first
        await settle()
        assert client.tokens == ["t1", "t2"]
        await client.answer(1)
        assert (await second) is not old
        assert client.most_in_flight == 1

    async def test_an_event_of_another_user_changes_nothing(self, client, index):
        snapshots = cache(client, index)
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        index.add(IndexedEvent.from_event(0, created("bob")))
        second = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        await client.answer()
        assert (await first) is (await second)
        assert client.tokens == ["t1"]

    async def test_a_request_not_yet_sent_serves_streams_whose_events_came_meanwhile(
        self, client, index
    ):
        """Waiting for its turn it has read nothing yet: its horizon is noted when it goes."""
        client.queued = True
        snapshots = cache(client, index)
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        index.add(IndexedEvent.from_event(0, created("alice")))
        second = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        await client.answer()
        assert (await first) is (await second)
        assert client.tokens == ["t1"]

    async def test_a_stream_that_leaves_does_not_cancel_the_shared_request(self, client, index):
        snapshots = cache(client, index)
        leaving = asyncio.create_task(snapshots.get("alice", "t1"))
        staying = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        leaving.cancel()
        await settle()
        await client.answer()
        assert (await staying).stats is not None
        assert client.tokens == ["t1"]


class TestReuse:
    """A full answer is kept a while, and retired by the user's next event or a new epoch."""

    async def test_a_later_stream_reuses_it_until_the_users_next_event(self, client, index):
        snapshots = cache(client, index)
        index.add(IndexedEvent.from_event(0, created("alice")))
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        await client.answer()
        kept = await first
        assert await snapshots.get("alice", "t2") is kept
        index.add(IndexedEvent.from_event(1, created("alice")))
        later = asyncio.create_task(snapshots.get("alice", "t3"))
        await settle()
        await client.answer()
        assert (await later) is not kept
        assert client.tokens == ["t1", "t3"]

    async def test_ready_gives_only_what_get_would_give_without_waiting(self, client, index):
        """A stream takes a kept snapshot at once (one write for all its opening frames);
        nothing while the user's request is in flight or after the user's next event."""
        snapshots = cache(client, index)
        assert snapshots.ready("alice") is None  # nothing asked yet
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        assert snapshots.ready("alice") is None  # in flight: the stream must wait
        await client.answer()
        kept = await first
        assert snapshots.ready("alice") is kept
        assert snapshots.ready("bob") is None
        index.add(IndexedEvent.from_event(0, created("alice")))
        assert snapshots.ready("alice") is None  # may predate that event
        assert client.tokens == ["t1"]

    async def test_it_expires_and_reuse_zero_keeps_nothing(self, client, index):
        snapshots = cache(client, index, reuse=0)
        for i in range(2):
            task = asyncio.create_task(snapshots.get("alice", f"t{i}"))
            await settle()
            await client.answer()
            await task
        assert client.tokens == ["t0", "t1"]

    async def test_a_failed_answer_is_never_kept(self, client, index):
        client.answers = [MISSING]
        snapshots = cache(client, index)
        failed = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        await client.answer()
        assert (await failed) is MISSING
        await settle()
        again = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        await client.answer()
        assert (await again).complete
        assert client.tokens == ["t1", "t2"]

    async def test_a_cleared_index_retires_every_kept_snapshot(self, client, index):
        snapshots = cache(client, index)
        first = asyncio.create_task(snapshots.get("alice", "t1"))
        await settle()
        await client.answer()
        await first
        index.clear()  # a gap or a new epoch: offsets start again
        again = asyncio.create_task(snapshots.get("alice", "t2"))
        await settle()
        await client.answer()
        await again
        assert client.tokens == ["t1", "t2"]

    async def test_at_most_max_users_are_kept(self, client, index):
        snapshots = cache(client, index, max_users=3)
        for i in range(5):
            task = asyncio.create_task(snapshots.get(f"u{i}", "t"))
            await settle()
            await client.answer()
            await task
        assert len(snapshots) == 3

    async def test_expired_snapshots_are_dropped_as_new_requests_start(self, client, index):
        snapshots = cache(client, index, reuse=0.05)
        for i in range(3):
            task = asyncio.create_task(snapshots.get(f"u{i}", "t"))
            await settle()
            await client.answer()
            await task
        assert len(snapshots) == 3
        await asyncio.sleep(0.1)
        task = asyncio.create_task(snapshots.get("late", "t"))
        await settle()
        await client.answer()
        await task
        assert len(snapshots) == 1

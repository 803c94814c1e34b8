"""Per-user connection registry and slow-client policy (stream_relay.fanout)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated
from stream_relay.fanout import ConnectionRegistry, TooManyStreams
from stream_relay.indexed_event import IndexedEvent
from stream_relay.replay import ReplayIndex


def entries(user: str, count: int):
    log = ReplayIndex(max_per_user=1000, max_age_seconds=3600)
    out = []
    for offset in range(count):
        notification = Notification(
            id=uuid4(),
            type="t",
            notifiable_id=user,
            data="d",
            read_at=None,
            created_at="2026-01-01T00:00:00Z",
        )
        event = NotificationCreated(
            user_id=user, stats=Stats(total=1, unread=1, read=0), notification=notification
        )
        out.append(log.add(IndexedEvent.from_event(offset, event)))
    return out


class TestRegistry:
    def test_events_reach_every_connection_of_their_user_only(self):
        registry = ConnectionRegistry(max_per_user=5, max_queued=10)
        tabs = [registry.open("alice"), registry.open("alice")]
        bob = registry.open("bob")
        (entry,) = entries("alice", 1)
        assert registry.publish(entry) == 2
        assert [tab.drain() for tab in tabs] == [[entry], [entry]]
        assert bob.drain() == []

    def test_limit_per_user_raises_and_release_frees_a_slot(self):
        registry = ConnectionRegistry(max_per_user=1, max_queued=10)
        first = registry.open("alice")
        with pytest.raises(TooManyStreams):
            registry.open("alice")
        registry.open("bob")
        registry.release(first)
        registry.release(first)
        registry.open("alice")
        assert registry.by_user() == {"alice": 1, "bob": 1}
        assert registry.total == 2

    def test_slow_client_is_closed_on_overflow_and_counted_once(self):
        slow = []
        registry = ConnectionRegistry(max_per_user=5, max_queued=2, on_slow=lambda: slow.append(1))
        connection = registry.open("alice")
        for entry in entries("alice", 5):
            registry.publish(entry)
        assert connection.closed_reason == "slow"
        assert slow == [1]

    def test_closing_registry_refuses_new_streams_and_closes_open_ones(self):
        registry = ConnectionRegistry(max_per_user=5, max_queued=2)
        connection = registry.open("alice")
        registry.closing = True
        registry.close_all("shutdown")
        assert connection.closed_reason == "shutdown"
        with pytest.raises(TooManyStreams):
            registry.open("alice")


class TestSink:
    """A live stream's sink takes events synchronously while nothing is queued."""

    def test_an_accepting_sink_gets_the_event_and_nothing_is_queued(self):
        registry = ConnectionRegistry(max_per_user=5, max_queued=10)
        connection = registry.open("alice")
        written = []
        connection.attach(lambda entry: written.append(entry) or True)
        batch = entries("alice", 2)
        for entry in batch:
            registry.publish(entry)
        assert written == batch
        assert connection.drain() == []

    def test_once_an_event_is_queued_later_ones_queue_behind_it(self):
        """Order: a sink that declined once is not used until the writer drained."""
        registry = ConnectionRegistry(max_per_user=5, max_queued=10)
        connection = registry.open("alice")
        ready, written = [False], []
        connection.attach(lambda entry: ready[0] and (written.append(entry) or True))
        first, second, third = entries("alice", 3)
        registry.publish(first)
        ready[0] = True
        registry.publish(second)
        assert written == []
        assert connection.drain() == [first, second]
        registry.publish(third)
        assert written == [third]

    def test_a_failing_sink_is_detached_and_the_event_queued(self, caplog):
        registry = ConnectionRegistry(max_per_user=5, max_queued=10)
        broken, healthy = registry.open("alice"), registry.open("alice")

        def fail(entry):
            raise RuntimeError("bug")

        broken.attach(fail)
        first, second = entries("alice", 2)
        assert registry.publish(first) == 2
        registry.publish(second)
        assert broken.drain() == [first, second]
        assert healthy.drain() == [first, second]
        assert "direct write failed" in caplog.text


class TestConnectionWait:
    async def test_wait_returns_when_an_event_is_queued(self):
        registry = ConnectionRegistry(max_per_user=5, max_queued=10)
        connection = registry.open("alice")
        (entry,) = entries("alice", 1)
        asyncio.get_running_loop().call_later(0.05, registry.publish, entry)
        assert await asyncio.wait_for(connection.wait(5), 2) is False
        assert connection.drain() == [entry]

    async def test_wait_times_out_quietly(self):
        connection = ConnectionRegistry(max_per_user=5, max_queued=10).open("alice")
        assert await connection.wait(0.01) is True  # the heartbeat is due
        assert connection.drain() == []

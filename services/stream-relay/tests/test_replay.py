"""The per-user replay index (stream_relay.replay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated
from stream_relay.indexed_event import IndexedEvent, sse_id
from stream_relay.replay import ReplayIndex

STATS = Stats(total=1, unread=1, read=0)


def created(user: str, *, age: float = 0.0) -> NotificationCreated:
    at = datetime.now(UTC) - timedelta(seconds=age)
    notification = Notification(
        id=uuid4(), type="t", notifiable_id=user, data="d", read_at=None, created_at=at
    )
    return NotificationCreated(user_id=user, stats=STATS, notification=notification, occurred_at=at)


def index(**kwargs) -> ReplayIndex:
    return ReplayIndex(**{"max_per_user": 100, "max_age_seconds": 3600, **kwargs})


def append(log: ReplayIndex, offset: int, event: NotificationCreated) -> IndexedEvent | None:
    """Index an already decoded event, as ingest does with a delivery."""
    return log.add(IndexedEvent.from_event(offset, event))


class TestSince:
    """since() returns exactly the user's newer events, or recovered=False."""

    def test_since_returns_only_newer_events_of_that_user_in_order(self):
        log = index()
        entries = [append(log, i, created("alice" if i % 2 == 0 else "bob")) for i in range(10)]
        first = entries[2]
        assert first is not None
        replay = log.since("alice", sse_id(2, first.event_id))
        assert replay.recovered
        assert [e.offset for e in replay.events] == [4, 6, 8]

    def test_nothing_missed_is_recovered_and_empty(self):
        log = index()
        entry = append(log, 0, created("alice"))
        assert entry is not None
        replay = log.since("alice", sse_id(0, entry.event_id))
        assert replay.recovered
        assert replay.events == ()

    def test_unusable_ids_are_not_recovered(self):
        log = index()
        alice = append(log, 0, created("alice"))
        bob = append(log, 1, created("bob"))
        assert alice is not None
        assert bob is not None
        cases = {
            None: "no id",
            "garbage": "malformed",
            sse_id(1, bob.event_id): "unknown",  # another user's id
            sse_id(0, uuid4()): "other epoch",  # same offset, another event
            sse_id(7, alice.event_id): "unknown",
        }
        for last_id, reason in cases.items():
            replay = log.since("alice", last_id)
            assert (replay.recovered, replay.reason) == (False, reason), last_id

    def test_evicted_id_is_not_recovered(self):
        log = index(max_per_user=2)
        first = append(log, 0, created("alice"))
        assert first is not None
        append(log, 1, created("alice"))
        append(log, 2, created("alice"))
        assert not log.since("alice", sse_id(0, first.event_id)).recovered

    def test_expired_events_are_dropped(self):
        log = index(max_age_seconds=60)
        old = append(log, 0, created("alice", age=120))
        assert old is not None
        assert not log.since("alice", sse_id(0, old.event_id)).recovered
        assert log.latest("alice") is None

    def test_clear_forgets_every_id(self):
        log = index()
        entry = append(log, 0, created("alice"))
        assert entry is not None
        log.clear()
        assert not log.since("alice", sse_id(0, entry.event_id)).recovered


class TestAppend:
    def test_duplicate_event_id_is_refused(self):
        log = index()
        event = created("alice")
        assert append(log, 0, event) is not None
        assert append(log, 1, event) is None
        assert len(log) == 1

    def test_non_increasing_offsets_are_ignored(self):
        log = index()
        assert append(log, 5, created("alice")) is not None
        assert append(log, 5, created("alice")) is None
        assert append(log, 3, created("alice")) is None

    def test_frames_are_encoded_once_with_the_sse_id(self):
        log = index()
        event = created("alice")
        entry = append(log, 9, event)
        assert entry is not None
        assert entry.frame.startswith(
            f"id: {sse_id(9, event.event_id)}\nevent: notification\n".encode()
        )
        assert entry.live.startswith(entry.frame)
        assert entry.live.endswith(
            b'event: stats\ndata: {"total":1,"unread":1,"read":0,"unseen":1}\n\n'
        )

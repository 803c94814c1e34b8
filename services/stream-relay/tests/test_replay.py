"""The per-user replay index (stream_relay.replay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import orjson
import pytest

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated, encode_event
from stream_relay.replay import IndexedEvent, ReplayIndex, Unusable, parse_sse_id, sse_id

STATS = Stats(total=1, unread=1, read=0)


def created(user: str, *, age: float = 0.0) -> NotificationCreated:
    at = datetime.now(UTC) - timedelta(seconds=age)
    notification = Notification(
        id=uuid4(), type="t", notifiable_id=user, data="d", read_at=None, created_at=at
    )
    return NotificationCreated(user_id=user, stats=STATS, notification=notification, occurred_at=at)


def index(**kwargs) -> ReplayIndex:
    return ReplayIndex(**{"max_per_user": 100, "max_age_seconds": 3600, **kwargs})


class TestSseIds:
    def test_ids_round_trip_and_carry_the_event_id_prefix(self):
        event_id = uuid4()
        assert parse_sse_id(sse_id(42, event_id)) == (42, event_id.hex[:12])

    def test_foreign_shapes_do_not_parse(self):
        for bad in ["", "42", "-1-abcdefabcdef", "01-abcdefabcdef", "1-ABCDEFABCDEF", "1-abc"]:
            assert parse_sse_id(bad) is None


class TestSince:
    """since() returns exactly the user's newer events, or recovered=False."""

    def test_since_returns_only_newer_events_of_that_user_in_order(self):
        log = index()
        entries = [log.append(i, created("alice" if i % 2 == 0 else "bob")) for i in range(10)]
        first = entries[2]
        assert first is not None
        replay = log.since("alice", sse_id(2, first.event_id))
        assert replay.recovered
        assert [e.offset for e in replay.events] == [4, 6, 8]

    def test_nothing_missed_is_recovered_and_empty(self):
        log = index()
        entry = log.append(0, created("alice"))
        assert entry is not None
        replay = log.since("alice", sse_id(0, entry.event_id))
        assert replay.recovered
        assert replay.events == ()

    def test_unusable_ids_are_not_recovered(self):
        log = index()
        alice = log.append(0, created("alice"))
        bob = log.append(1, created("bob"))
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
        first = log.append(0, created("alice"))
        assert first is not None
        log.append(1, created("alice"))
        log.append(2, created("alice"))
        assert not log.since("alice", sse_id(0, first.event_id)).recovered

    def test_expired_events_are_dropped(self):
        log = index(max_age_seconds=60)
        old = log.append(0, created("alice", age=120))
        assert old is not None
        assert not log.since("alice", sse_id(0, old.event_id)).recovered
        assert log.latest("alice") is None

    def test_clear_forgets_every_id(self):
        log = index()
        entry = log.append(0, created("alice"))
        assert entry is not None
        log.clear()
        assert not log.since("alice", sse_id(0, entry.event_id)).recovered


class TestAppend:
    def test_duplicate_event_id_is_refused(self):
        log = index()
        event = created("alice")
        assert log.append(0, event) is not None
        assert log.append(1, event) is None
        assert len(log) == 1

    def test_non_increasing_offsets_are_ignored(self):
        log = index()
        assert log.append(5, created("alice")) is not None
        assert log.append(5, created("alice")) is None
        assert log.append(3, created("alice")) is None

    def test_frames_are_encoded_once_with_the_sse_id(self):
        log = index()
        event = created("alice")
        entry = log.append(9, event)
        assert entry is not None
        assert entry.frame.startswith(
            f"id: {sse_id(9, event.event_id)}\nevent: notification\n".encode()
        )
        assert entry.live.startswith(entry.frame)
        assert entry.live.endswith(b'event: stats\ndata: {"total":1,"unread":1,"read":0}\n\n')


class TestLazyEntries:
    """Indexing reads the body quickly; validation and frames wait until an entry is used."""

    def test_a_body_is_indexed_without_decoding_and_encoded_once_when_used(self):
        log = index()
        event = created("alice")
        entry = log.add(IndexedEvent.from_body(3, encode_event(event)))
        assert entry is not None
        assert (entry.user_id, entry.key) == ("alice", str(event.event_id))
        assert entry._live is None  # nothing decoded or encoded yet
        assert entry.frame == IndexedEvent.from_event(3, event).frame
        assert entry.live is entry.live  # encoded once: every connection gets the same bytes
        assert entry.live.startswith(entry.frame)
        assert b"event: stats" in entry.live[len(entry.frame) :]
        assert entry.event_id == event.event_id
        assert entry.created_notification == event.notification.id

    def test_unreadable_bodies_are_unusable_at_once(self):
        with pytest.raises(Unusable, match="invalid_json"):
            IndexedEvent.from_body(0, b"{nope")
        future = created("alice").model_dump(mode="json", by_alias=True) | {"schemaVersion": 9}
        with pytest.raises(Unusable, match="unknown_schema"):
            IndexedEvent.from_body(0, orjson.dumps(future))

    def test_an_odd_but_valid_body_takes_the_full_path(self):
        event = created("alice")
        odd = event.model_dump(mode="json", by_alias=True)
        odd["eventId"] = odd["eventId"].upper()
        entry = IndexedEvent.from_body(0, orjson.dumps(odd))
        assert entry.key == str(event.event_id)

    def test_an_entry_found_invalid_on_first_use_is_reported_and_never_served(self):
        log = index()
        invalid: list[tuple[int, str]] = []
        log.on_invalid = lambda entry, exc: invalid.append((entry.offset, exc.reason))
        first = log.append(0, created("alice"))
        assert first is not None
        broken = created("alice").model_dump(mode="json", by_alias=True)
        del broken["notification"]["type"]  # readable, but not a valid event
        assert log.add(IndexedEvent.from_body(1, orjson.dumps(broken))) is not None
        last = log.append(2, created("alice"))
        replay = log.since("alice", sse_id(0, first.event_id))
        assert [e.offset for e in replay.events] == [2]
        assert invalid == [(1, "invalid_event")]
        assert log.latest("alice") is last
        assert len(log) == 2

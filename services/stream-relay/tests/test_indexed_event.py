"""An event of the log as the relay holds it: lazy decoding, frames, SSE ids."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated, encode_event
from stream_relay.indexed_event import IndexedEvent, Unusable, parse_sse_id, sse_id
from stream_relay.replay import ReplayIndex


def created(user: str) -> NotificationCreated:
    at = datetime.now(UTC)
    notification = Notification(
        id=uuid4(), type="t", notifiable_id=user, data="d", read_at=None, created_at=at
    )
    stats = Stats(total=1, unread=1, read=0)
    return NotificationCreated(user_id=user, stats=stats, notification=notification, occurred_at=at)


def index() -> ReplayIndex:
    return ReplayIndex(max_per_user=100, max_age_seconds=3600)


def append(log: ReplayIndex, offset: int, event: NotificationCreated) -> IndexedEvent | None:
    return log.add(IndexedEvent.from_event(offset, event))


class TestSseIds:
    def test_ids_round_trip_and_carry_the_event_id_prefix(self):
        event_id = uuid4()
        assert parse_sse_id(sse_id(42, event_id)) == (42, event_id.hex[:12])

    def test_foreign_shapes_do_not_parse(self):
        for bad in ["", "42", "-1-abcdefabcdef", "01-abcdefabcdef", "1-ABCDEFABCDEF", "1-abc"]:
            assert parse_sse_id(bad) is None


class TestLazyEntries:
    """Indexing reads the body quickly; validation and frames wait until an entry is used."""

    def test_a_body_is_indexed_without_decoding_and_encoded_once_when_used(self):
        log = index()
        event = created("alice")
        entry = log.add(IndexedEvent.from_body(3, encode_event(event)))
        assert entry is not None
        assert (entry.user_id, entry.key) == ("alice", str(event.event_id))
        assert entry.frame == IndexedEvent.from_event(3, event).frame
        assert entry.live is entry.live  # encoded once: every connection gets the same bytes
        assert entry.live.startswith(entry.frame)
        assert b"event: stats" in entry.live[len(entry.frame) :]
        assert entry.event_id == event.event_id
        assert entry.created_notification == event.notification.id

    def test_a_readable_but_invalid_body_is_found_out_only_when_used(self):
        broken = created("alice").model_dump(mode="json", by_alias=True)
        broken["stats"] = {"total": -1}
        entry = IndexedEvent.from_body(0, orjson.dumps(broken))  # no validation yet
        with pytest.raises(Unusable, match="invalid_event"):
            entry.encode()

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
        first = append(log, 0, created("alice"))
        assert first is not None
        broken = created("alice").model_dump(mode="json", by_alias=True)
        del broken["notification"]["type"]  # readable, but not a valid event
        assert log.add(IndexedEvent.from_body(1, orjson.dumps(broken))) is not None
        last = append(log, 2, created("alice"))
        replay = log.since("alice", sse_id(0, first.event_id))
        assert [e.offset for e in replay.events] == [2]
        assert invalid == [(1, "invalid_event")]
        assert log.latest("alice") is last
        assert len(log) == 2

"""One connection's frame rules: horizon, seen ids, created-in-recent (stream_relay.frames)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from tests.support.sse_client import parse_frames

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated
from stream_relay.frames import ConnectionFrames
from stream_relay.indexed_event import IndexedEvent, sse_id


def entry(offset: int, user: str = "alice") -> IndexedEvent:
    notification = Notification(
        id=uuid4(),
        type="t",
        notifiable_id=user,
        data="d",
        read_at=None,
        created_at=datetime.now(UTC),
    )
    event = NotificationCreated(
        user_id=user, stats=Stats(total=1, unread=1, read=0), notification=notification
    )
    return IndexedEvent.from_event(offset, event)


class TestLive:
    def test_a_live_event_gets_its_frame_and_its_stats(self):
        rules = ConnectionFrames(horizon=-1)
        first = entry(0)
        frames, rest = parse_frames(rules.live(first).decode())
        assert rest == ""
        assert [(f.event, f.id) for f in frames] == [
            ("notification", sse_id(0, first.event_id)),
            ("stats", None),
        ]
        assert rules.delivered == 1

    def test_events_at_or_below_the_horizon_were_covered_by_the_opening(self):
        rules = ConnectionFrames(horizon=5)
        assert rules.live_chunk([entry(4), entry(5)]) == b""
        assert rules.live(entry(6)) != b""
        assert rules.delivered == 1

    def test_an_event_already_written_is_not_written_again(self):
        """A duplicate the index did not catch (a replayed event arriving live too)."""
        rules = ConnectionFrames(horizon=-1)
        replayed = entry(3)
        assert rules.replayed([replayed]) == replayed.frame
        again = IndexedEvent(7, "alice", replayed.key, replayed.happened_at, replayed.body)
        assert rules.live(again) == b""
        assert rules.delivered == 1

    def test_a_creation_listed_in_recent_gives_an_id_only_frame_and_its_stats(self):
        """Not shown twice, the client's Last-Event-ID still moves past it, and its
        counters follow (a page showed the new notification with "0 unread" until the
        next change)."""
        rules = ConnectionFrames(horizon=-1)
        listed, other = entry(1), entry(2)
        assert listed.created_notification is not None
        rules.listed_in_recent([listed.created_notification])
        chunk = rules.live_chunk([listed, other])
        id_only = f"id: {sse_id(1, listed.event_id)}\n\n".encode()
        assert chunk == id_only + listed.live[len(listed.frame) :] + other.live
        frames, _ = parse_frames(chunk.decode())
        assert [(f.event, f.id) for f in frames][:2] == [
            ("message", sse_id(1, listed.event_id)),
            ("stats", None),
        ]
        assert rules.delivered == 1


class TestReplayed:
    def test_a_replay_is_the_events_without_their_stats_in_order(self):
        rules = ConnectionFrames(horizon=10)
        entries = [entry(offset) for offset in (2, 5, 9)]
        frames, _ = parse_frames(rules.replayed(entries).decode())
        assert [f.id for f in frames] == [sse_id(e.offset, e.event_id) for e in entries]
        assert {f.event for f in frames} == {"notification"}
        assert rules.delivered == 3

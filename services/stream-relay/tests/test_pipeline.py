"""One delivery through the relay's per-event path, without a broker (stream_relay.pipeline).

Continuity, ingest (decode once, index, park) and fan-out, driven through
Pipeline.receive as the consumer does; against real RabbitMQ in
test_stream_limits.py.
"""

from __future__ import annotations

from uuid import uuid4

import orjson

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated, encode_event
from stream_relay.amqp_stream import Delivery
from stream_relay.fanout import ConnectionRegistry
from stream_relay.indexed_event import sse_id
from stream_relay.metrics import RelayMetrics
from stream_relay.pipeline import Pipeline
from stream_relay.replay import ReplayIndex

OLD = "2020-01-01T00:00:00Z"  # not fresh: the relay is still catching up


def event(user: str = "alice", occurred_at: str = OLD) -> NotificationCreated:
    notification = Notification(
        id=uuid4(), type="t", notifiable_id=user, data="d", read_at=None, created_at=occurred_at
    )
    return NotificationCreated(
        user_id=user,
        stats=Stats(total=1, unread=1, read=0),
        notification=notification,
        occurred_at=occurred_at,
    )


def delivery(offset: int, body: bytes | NotificationCreated | None = None) -> Delivery:
    created = body if isinstance(body, NotificationCreated) else event()
    raw = body if isinstance(body, bytes) else encode_event(created)
    return Delivery(offset + 1, {"x-stream-offset": offset}, str(created.event_id), raw)


def broken(**changes: object) -> bytes:
    """A readable body that is not a valid event."""
    return orjson.dumps(event().model_dump(mode="json", by_alias=True) | changes)


def pipeline() -> tuple[Pipeline, ReplayIndex, ConnectionRegistry]:
    index = ReplayIndex(max_per_user=100, max_age_seconds=10**10)
    registry = ConnectionRegistry(max_per_user=5, max_queued=100)
    return Pipeline(index=index, registry=registry, metrics=RelayMetrics()), index, registry


class TestIngest:
    def test_messages_are_indexed_and_fanned_out_in_offset_order(self):
        path, index, registry = pipeline()
        connection = registry.open("alice")
        for offset in range(3):
            path.receive(delivery(offset))
        assert [e.offset for e in connection.drain()] == [0, 1, 2]
        assert path.continuity.last_offset == 2
        assert len(index) == 3

    def test_a_bad_message_is_parked_and_its_offset_still_counts(self):
        path, index, _ = pipeline()
        path.receive(delivery(0, b"{nope"))
        path.receive(delivery(1))
        assert [(p.offset, p.reason) for p in path.ingest.parked] == [(0, "invalid_json")]
        assert path.continuity.last_offset == 1
        assert len(index) == 1

    def test_a_readable_but_invalid_event_is_parked_when_first_replayed(self):
        """Catching up, bodies are only read quickly; validation waits for a replay."""
        path, index, _ = pipeline()
        first = event()
        path.receive(delivery(0, first))
        path.receive(delivery(1, broken(eventId=str(uuid4()), stats={"total": -1})))
        assert len(index) == 2
        assert not path.ingest.parked
        replay = index.since("alice", sse_id(0, first.event_id))
        assert replay.recovered
        assert replay.events == ()
        assert [(p.offset, p.reason) for p in path.ingest.parked] == [(1, "invalid_event")]

    def test_once_caught_up_an_invalid_event_is_parked_at_once(self):
        path, index, _ = pipeline()
        path.subscribing(None)  # an empty log ...
        path.catch_up.idle(1.0)  # ... and nothing delivered for a while: caught up
        path.receive(delivery(0, broken(stats={"total": -1})))
        assert [(p.offset, p.reason) for p in path.ingest.parked] == [(0, "invalid_event")]
        assert len(index) == 0

    def test_an_invalid_event_for_an_open_stream_never_reaches_it(self):
        path, _, registry = pipeline()
        connection = registry.open("alice")
        path.receive(delivery(0, broken(stats={"total": -1})))
        assert connection.drain() == []
        assert [p.reason for p in path.ingest.parked] == ["invalid_event"]

    def test_a_republished_event_is_indexed_and_fanned_out_once(self):
        path, index, registry = pipeline()
        connection = registry.open("alice")
        created = event()
        path.receive(delivery(0, created))
        path.receive(delivery(1, created))  # a republish after a lost confirm
        assert [e.offset for e in connection.drain()] == [0]
        assert len(index) == 1


class TestCatchUp:
    def test_caught_up_at_the_head_the_log_had_when_subscribing(self):
        """Not after a pause: a slow broker must not make a partial index look complete."""
        path, _, _ = pipeline()
        assert path.subscribing(4) == "first"
        caught_up = []
        for offset in range(5):
            path.receive(delivery(offset))
            caught_up.append(path.catch_up.caught_up.is_set())
        assert caught_up == [False, False, False, False, True]

    def test_a_fresh_event_means_the_head(self):
        path, _, _ = pipeline()
        path.subscribing(100)
        path.receive(delivery(0, event(occurred_at="2100-01-01T00:00:00Z")))
        assert path.catch_up.caught_up.is_set()


class TestContinuity:
    def test_a_resubscribe_skips_the_already_processed_message(self):
        path, index, _ = pipeline()
        last = delivery(4)
        path.receive(last)
        assert path.subscribing(4) == 4  # at the last processed offset, not after it
        path.receive(last)
        path.receive(delivery(5))
        assert not path.gap.is_set()
        assert len(index) == 2

    def test_a_gap_or_new_epoch_clears_the_index_and_closes_streams(self):
        """Never a silent gap: another message (or offset) at the resume point restarts."""
        path, index, registry = pipeline()
        connection = registry.open("alice")
        first = event()
        path.receive(delivery(4, first))
        path.subscribing(9)
        path.receive(delivery(9))  # offset 4 was trimmed away
        assert path.gap.is_set()
        assert len(index) == 0
        assert connection.closed_reason == "log discontinuity"
        assert index.since("alice", sse_id(4, first.event_id)).recovered is False
        path.receive(delivery(10))  # the rest of that subscription is ignored
        assert len(index) == 0
        assert path.subscribing(10) == "first"
        assert not path.gap.is_set()

    def test_a_log_that_now_ends_before_the_last_offset_is_read_again(self):
        """Retention never empties a log: a shorter one was deleted and declared again."""
        path, index, _ = pipeline()
        path.receive(delivery(7))
        assert path.subscribing(2) == "first"
        assert len(index) == 0


def test_without_a_message_id_the_body_identifies_the_message():
    path, _, _ = pipeline()
    body = encode_event(event())
    path.receive(Delivery(1, {"x-stream-offset": 3}, None, body))
    assert path.subscribing(3) == 3
    path.receive(Delivery(1, {"x-stream-offset": 3}, None, body))
    assert not path.gap.is_set()
    path.subscribing(3)
    path.receive(Delivery(1, {"x-stream-offset": 3}, None, encode_event(event())))
    assert path.gap.is_set()

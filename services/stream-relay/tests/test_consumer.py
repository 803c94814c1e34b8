"""The consumer's per-message rules, without a broker (stream_relay.consumer).

The broker-facing behaviour (ack, parking, reconnect) is covered against real
RabbitMQ in test_stream_limits.py; here: offsets, duplicates and discontinuities.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from uuid import UUID, uuid4

import orjson

from qahub_contracts.amqp_endpoints import BrokerEndpoints
from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated, encode_event
from stream_relay.consumer import StreamConsumer
from stream_relay.fanout import ConnectionRegistry
from stream_relay.indexed_event import sse_id
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import ReplayIndex


def message(offset: int, user: str = "alice", body: bytes | None = None):
    event = NotificationCreated(
        user_id=user,
        stats=Stats(total=1, unread=1, read=0),
        notification=Notification(
            id=uuid4(),
            type="t",
            notifiable_id=user,
            data="d",
            read_at=None,
            created_at="2030-01-01T00:00:00Z",
        ),
        occurred_at="2030-01-01T00:00:00Z",
    )
    return SimpleNamespace(
        headers={"x-stream-offset": offset},
        message_id=str(event.event_id),
        body=body if body is not None else encode_event(event),
        event=event,
    )


def consumer() -> tuple[StreamConsumer, ReplayIndex, ConnectionRegistry]:
    index = ReplayIndex(max_per_user=100, max_age_seconds=10**9)
    registry = ConnectionRegistry(max_per_user=5, max_queued=100)
    reader = StreamConsumer(
        endpoints=BrokerEndpoints(["amqp://unused/"]),
        max_age="1h",
        prefetch=10,
        index=index,
        registry=registry,
        metrics=RelayMetrics(),
    )
    return reader, index, registry


class TestHandle:
    def test_messages_are_indexed_and_fanned_out_in_offset_order(self):
        reader, index, registry = consumer()
        connection = registry.open("alice")
        for offset in range(3):
            reader._handle(message(offset))
        assert [e.offset for e in connection.drain()] == [0, 1, 2]
        assert reader.last_offset == 2
        assert len(index) == 3

    def test_bad_message_is_parked_and_its_offset_still_counts(self):
        reader, index, _ = consumer()
        reader._handle(message(0, body=b"{nope"))
        reader._handle(message(1))
        assert [(p.offset, p.reason) for p in reader.parked] == [(0, "invalid_json")]
        assert reader.last_offset == 1
        assert len(index) == 1

    def test_a_readable_but_invalid_event_is_parked_when_first_replayed(self):
        """Catching up, bodies are only read quickly; validation waits for a replay."""
        reader, index, _ = consumer()
        old = message(0).event.model_dump(mode="json", by_alias=True)
        old["occurredAt"] = "2020-01-01T00:00:00Z"  # not fresh: still catching up
        reader._handle(message(0, body=orjson.dumps(old)))
        broken = old | {"eventId": str(uuid4()), "stats": {"total": -1}}
        reader._handle(message(1, body=orjson.dumps(broken)))
        assert len(index) == 2
        assert not reader.parked
        replay = index.since("alice", sse_id(0, UUID(old["eventId"])))
        assert replay.recovered
        assert replay.events == ()
        assert [(p.offset, p.reason) for p in reader.parked] == [(1, "invalid_event")]

    def test_once_caught_up_an_invalid_event_is_parked_at_once(self):
        reader, index, _ = consumer()
        reader.caught_up.set()
        broken = message(0).event.model_dump(mode="json", by_alias=True)
        broken["stats"] = {"total": -1}
        reader._handle(message(0, body=orjson.dumps(broken)))
        assert [(p.offset, p.reason) for p in reader.parked] == [(0, "invalid_event")]
        assert len(index) == 0

    def test_caught_up_at_the_head_the_log_had_when_subscribing(self):
        """Not after a pause: a slow broker must not make a partial index look complete."""
        reader, _, _ = consumer()
        reader._head = 4  # what _subscribe takes from the probe of "last", from "first"
        caught_up = []
        for offset in range(5):
            old = message(offset).event.model_dump(mode="json", by_alias=True)
            old["occurredAt"] = "2020-01-01T00:00:00Z"  # not fresh
            reader._handle(message(offset, body=orjson.dumps(old)))
            caught_up.append(reader.caught_up.is_set())
        assert caught_up == [False, False, False, False, True]

    def test_resubscribe_skips_the_already_processed_message(self):
        reader, index, _ = consumer()
        last = message(4)
        reader._handle(last)
        reader._expect = reader._last  # what _subscribe does after a reconnect
        reader._handle(last)
        reader._handle(message(5))
        assert not reader._restart.is_set()
        assert len(index) == 2

    def test_a_gap_or_new_epoch_clears_the_index_and_closes_streams(self):
        """Never a silent gap: another message (or offset) at the resume point restarts."""
        reader, index, registry = consumer()
        connection = registry.open("alice")
        first = message(4)
        reader._handle(first)
        reader._expect = reader._last
        reader._handle(message(9))  # offset 4 was trimmed away
        assert reader._restart.is_set()
        assert len(index) == 0
        assert connection.closed_reason == "log discontinuity"
        assert index.since("alice", sse_id(4, first.event.event_id)).recovered is False
        assert reader.last_offset is None  # re-read from "first"


class TestAcks:
    def test_acks_are_batched_on_the_latest_delivery_before_the_window_fills(self):
        """One basic.ack(multiple) per quarter of the prefetch window; never a nack."""
        reader, _, _ = consumer()  # prefetch 10: a batch every 2 deliveries
        acked: list[int] = []
        reader._acks.send = acked.append  # what _subscribe does: StreamSubscription.ack
        for offset in range(5):
            delivery = message(offset)
            delivery.delivery_tag = offset + 1
            reader._on_message(delivery)
        assert acked == [2, 4]
        reader._acks.flush()  # what the idle tick does
        assert acked[-1] == 5


class TestStop:
    async def test_stop_returns_when_a_close_on_the_way_out_raises(self):
        """A cleanup that fails while cancelled must not turn stop() into a reconnect loop."""
        reader, _, _ = consumer()
        started = asyncio.Event()

        async def session() -> None:
            started.set()
            try:
                await asyncio.sleep(3600)
            finally:
                raise RuntimeError("channel closed under us")  # as a broker close may

        reader._session = session  # type: ignore[method-assign]
        reader.start()
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.wait_for(reader.stop(), 5)

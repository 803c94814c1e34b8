"""The hand-written delivery parser (stream_relay.amqp_frames), fed pamqp-marshalled frames.

The broker-facing behaviour (handshake, acks, reconnects) runs against real
RabbitMQ in test_stream_limits.py and the reliability suite.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pamqp import body, commands, frame, header

from stream_relay.amqp_frames import Delivery, FrameReader, MalformedFrame
from stream_relay.amqp_stream import StreamProtocol


def delivery_frames(tag: int, payload: bytes, *, frame_max: int = 4096, **properties) -> bytes:
    deliver = commands.Basic.Deliver(
        consumer_tag="ctag-1", delivery_tag=tag, exchange="x", routing_key="notification.created"
    )
    props = commands.Basic.Properties(**properties)
    frames = [
        frame.marshal(deliver, 1),
        frame.marshal(header.ContentHeader(0, len(payload), props), 1),
    ]
    frames.extend(
        frame.marshal(body.ContentBody(payload[start : start + frame_max]), 1)
        for start in range(0, len(payload), frame_max)
    )
    return b"".join(frames)


def feed(data: bytes, *, chunk_sizes: list[int] | None = None) -> list[Delivery]:
    got: list[Delivery] = []
    others: list[bytes] = []
    reader = FrameReader(got.append, others.append)
    position = 0
    for size in chunk_sizes or [len(data)]:
        reader.feed(data[position : position + size])
        position += size
    reader.feed(data[position:])
    assert others == []
    return got


class TestDeliveries:
    def test_headers_message_id_and_body_of_each_message_in_order(self):
        data = b"".join(
            delivery_frames(
                tag,
                b'{"n": %d}' % tag,
                content_type="application/json",
                headers={"x-stream-offset": 40 + tag, "qahub-user-id": "alice"},
                delivery_mode=2,
                message_id=f"m-{tag}",
                timestamp=datetime(2030, 1, 1, tzinfo=UTC),
                message_type="notification.created",
            )
            for tag in range(1, 4)
        )
        got = feed(data)
        assert [(d.delivery_tag, d.message_id, d.body) for d in got] == [
            (1, "m-1", b'{"n": 1}'),
            (2, "m-2", b'{"n": 2}'),
            (3, "m-3", b'{"n": 3}'),
        ]
        assert got[0].headers == {"x-stream-offset": 41, "qahub-user-id": "alice"}

    def test_messages_split_anywhere_and_over_several_body_frames(self):
        payloads = [bytes(random.randrange(256) for _ in range(n)) for n in (0, 1, 9000, 300)]
        data = b"".join(
            delivery_frames(tag, p, frame_max=1000, headers={"x-stream-offset": tag})
            for tag, p in enumerate(payloads, start=1)
        )
        cuts = [random.randrange(1, 50) for _ in range(len(data) // 25)]
        got = feed(data, chunk_sizes=cuts)
        assert [d.body for d in got] == payloads
        assert [d.headers["x-stream-offset"] for d in got] == [1, 2, 3, 4]
        assert all(d.message_id is None for d in got)

    def test_unusual_header_types_fall_back_to_the_full_table_decoder(self):
        headers = {"x-stream-offset": 7, "flag": True, "nested": {"a": 1}, "ratio": 0.5}
        got = feed(delivery_frames(1, b"{}", headers=headers, message_id="m"))
        assert got[0].headers["x-stream-offset"] == 7
        assert got[0].headers["nested"] == {"a": 1}
        assert got[0].message_id == "m"

    async def test_a_broker_close_ends_the_subscription(self):
        protocol = StreamProtocol(lambda _: None)
        close = commands.Channel.Close(
            reply_code=406, reply_text="PRECONDITION_FAILED", class_id=60, method_id=20
        )
        sent: list[bytes] = []
        transport = type(  # a transport that records writes
            "T", (), {"write": sent.append, "is_closing": lambda _: False, "close": lambda _: None}
        )()
        protocol.connection_made(transport)
        protocol.data_received(frame.marshal(close, 1))
        assert protocol.lost.done()
        with pytest.raises(ConnectionError, match="PRECONDITION_FAILED"):
            protocol.lost.result()
        assert frame.unmarshal(sent[0])[2].name == "Channel.CloseOk"

    def test_bytes_that_are_not_frames_are_refused(self):
        deliver = delivery_frames(1, b"{}")
        with pytest.raises(MalformedFrame):
            FrameReader(lambda _: None, lambda _: None).feed(deliver[:-1] + b"\x00")

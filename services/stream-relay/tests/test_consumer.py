"""The consumer loop's own parts, without a broker but for one stop test (stream_relay.consumer).

The broker-facing behaviour (subscribe, reconnect, resume) runs against real
RabbitMQ in test_stream_limits.py and the reliability suite; what a delivery
becomes is test_pipeline.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from qahub_contracts.amqp_endpoints import BrokerEndpoints
from stream_relay.consumer import STOP_SECONDS, BatchedAcks, StreamConsumer
from stream_relay.fanout import ConnectionRegistry
from stream_relay.metrics import RelayMetrics
from stream_relay.pipeline import Pipeline
from stream_relay.replay import ReplayIndex


class TestAcks:
    def test_acks_are_batched_on_the_latest_delivery_before_the_window_fills(self):
        """One basic.ack(multiple) per quarter of the prefetch window; never a nack."""
        acks = BatchedAcks(every=2)  # prefetch 8
        acked: list[int] = []
        acks.send = acked.append  # what the consumer does once subscribed
        for tag in range(1, 6):
            acks.note(tag)
        assert acked == [2, 4]
        acks.flush()  # what the idle tick does
        assert acked == [2, 4, 5]
        acks.flush()
        assert acked == [2, 4, 5]  # nothing new: no ack


class _HangingRestore(Pipeline):
    """A pipeline whose local-copy load hangs, then fails while being cancelled."""

    def __init__(self) -> None:
        super().__init__(
            index=ReplayIndex(max_per_user=10, max_age_seconds=60),
            registry=ConnectionRegistry(max_per_user=1, max_queued=1),
            metrics=RelayMetrics(),
        )
        self.started = asyncio.Event()

    async def restore(self) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("channel closed under us")  # as a broker close may


def _consumer(url: str, pipeline: _HangingRestore) -> StreamConsumer:
    return StreamConsumer(
        endpoints=BrokerEndpoints([url]),
        max_age="1h",
        prefetch=8,
        pipeline=pipeline,
        metrics=RelayMetrics(),
    )


class TestStop:
    async def test_stop_returns_when_a_close_on_the_way_out_raises(self):
        """A cleanup that fails while cancelled must not turn stop() into a reconnect loop."""
        pipeline = _HangingRestore()
        reader = _consumer("amqp://unused/", pipeline)
        reader.start()
        await asyncio.wait_for(pipeline.started.wait(), 5)
        await asyncio.wait_for(reader.stop(), 5)
        assert not reader.subscribed


class _LosesTheCancel(_HangingRestore):
    """A pipeline whose local-copy load swallows the cancel, as Python 3.11's
    ``asyncio.wait_for`` does when what it waits for completes at that moment."""

    async def restore(self) -> None:
        self.started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


class TestLostCancel:
    async def test_stop_ends_a_consumer_whose_cancel_was_swallowed(
        self, rabbitmq_url: str, caplog: pytest.LogCaptureFixture
    ):
        """A lost cancel must not leave the consumer following the log (a 30 s teardown)."""
        pipeline = _LosesTheCancel()
        reader = _consumer(rabbitmq_url, pipeline)
        reader.start()
        await asyncio.wait_for(pipeline.started.wait(), 5)
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="stream_relay.consumer"):
            await reader.stop()
        assert time.monotonic() - began < STOP_SECONDS
        assert "did not stop" not in caplog.text
        assert not reader.subscribed

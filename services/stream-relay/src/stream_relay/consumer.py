"""The relay's reader of the event log: the loop only (DESIGN §6, §8).

Guarantees:
- it subscribes to the stream queue (:mod:`stream_relay.amqp_stream`) and
  hands every delivery, synchronously and in delivery order, to the
  :class:`~stream_relay.pipeline.Pipeline`, which decides what it is;
- every message is acked, never rejected or nacked (that closes the whole
  connection on RabbitMQ 3.10), in batches (``multiple``) that never let the
  prefetch window fill;
- it reconnects by itself (bounded back-off) and resubscribes where the
  pipeline's continuity says: its own last processed offset, checked to be
  the same message, else ``first``. On a gap it resubscribes at once;
- before each subscription it probes the log's end, so catching up knows
  where the end is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Final

import aio_pika

from qahub_contracts.amqp_endpoints import BrokerEndpoints, redact
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE
from stream_relay.amqp_frames import Delivery
from stream_relay.amqp_stream import StreamSubscription, SubscriptionLost
from stream_relay.ingest import ParkedMessage
from stream_relay.metrics import RelayMetrics
from stream_relay.pipeline import Pipeline

__all__ = ["BatchedAcks", "StreamConsumer"]

log = logging.getLogger("stream_relay.consumer")

_END_PROBE_SECONDS: Final = 0.5  # an empty log never answers the probe for its end
_END_PROBE_PAUSE: Final = 0.1  # deliveries from "last" paused this long: that was the end
_END_PROBE_PREFETCH: Final = 1000
_TICK_SECONDS: Final = 0.1
STOP_SECONDS: Final = 5.0  # longest wait for the reading task to end on stop()


async def _log_end(connection: aio_pika.abc.AbstractConnection) -> int | None:
    """The offset of the log's last message now; ``None`` when the log is empty.

    Read by consuming from ``last`` (the log's last chunk) until deliveries pause
    for 0.1 s. A queue's message count is no measure: RabbitMQ 3.10 updates it for
    a stream only every few seconds, so it reads 0 right after a burst. An empty
    log answers nothing (``None`` after 0.5 s; a slow broker looks the same, and
    then the consumer's idle rule decides when it is caught up).
    """
    channel = await connection.channel()
    try:
        await channel.set_qos(prefetch_count=_END_PROBE_PREFETCH)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=False)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        end, end_at = -1, 0.0  # the latest delivery's offset, and when it came

        async def on_delivery(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal end, end_at
            offset = message.headers.get("x-stream-offset")
            end, end_at = (offset if isinstance(offset, int) else end), time.monotonic()
            await message.ack()  # never a nack (it would close the connection)
            if not first.done():
                first.set_result(None)

        await queue.consume(on_delivery, arguments={"x-stream-offset": "last"})
        try:
            # Not wait_for: on Python 3.11 it swallows a cancel that comes as ``first``
            # completes, and stop() would then find the consumer following the log.
            async with asyncio.timeout(_END_PROBE_SECONDS):
                await first
        except TimeoutError:
            return None
        deadline = time.monotonic() + _END_PROBE_SECONDS
        # The condition is a pause in deliveries, so it is measured on the clock.
        while time.monotonic() - end_at < _END_PROBE_PAUSE and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_END_PROBE_PAUSE / 4)
        return end
    finally:
        await channel.close()


class BatchedAcks:
    """One channel's acks, sent as ``basic.ack(multiple=True)`` on the latest delivery.

    Every ``every`` deliveries (a quarter of the prefetch window, so the window
    never fills waiting for an ack) and on the consumer's idle tick. Never a
    reject or nack (DESIGN §8).
    """

    def __init__(self, every: int) -> None:
        self._every = every
        self._latest: int | None = None
        self._pending = 0
        self.send: Callable[[int], None] | None = None  # set once subscribed

    def note(self, delivery_tag: int) -> None:
        """Remember a delivery (after every earlier one); ack the batch when it is full."""
        self._latest = delivery_tag
        self._pending += 1
        if self._pending >= self._every:
            self.flush()

    def flush(self) -> None:
        """Ack every delivery noted so far (a lost connection is noticed by the consumer)."""
        if self._latest is None or self.send is None:
            return
        latest, self._latest, self._pending = self._latest, None, 0
        with contextlib.suppress(SubscriptionLost):
            self.send(latest)


class StreamConsumer:
    """Follows the event log into a :class:`~stream_relay.pipeline.Pipeline`."""

    def __init__(
        self,
        *,
        endpoints: BrokerEndpoints,
        max_age: str,
        prefetch: int,
        pipeline: Pipeline,
        metrics: RelayMetrics,
        replicas: int = 1,
        max_backoff: float = 5.0,
    ) -> None:
        self._endpoints = endpoints
        self._replicas = replicas
        self._max_age = max_age
        self._prefetch = prefetch
        self._pipeline = pipeline
        self._metrics = metrics
        self._max_backoff = max_backoff
        self._restored = False  # the local copy is loaded once, before the first subscription
        self._last_delivery = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # set by stop(): the loops end even if its cancel is lost
        self._acks = BatchedAcks(every=max(1, prefetch // 4))
        self.subscribed = False
        # Read at scrape time: setting two gauges per message costs more than the rest.
        metrics.consumer_offset.set_function(lambda: float(self.last_offset or 0))
        metrics.consumer_lag.set_function(lambda: self.lag_seconds)

    @property
    def caught_up(self) -> asyncio.Event:
        """Set once the index holds the log up to its end (:mod:`stream_relay.catch_up`)."""
        return self._pipeline.catch_up.caught_up

    @property
    def last_offset(self) -> int | None:
        """Offset of the latest message processed (parked ones included)."""
        return self._pipeline.continuity.last_offset

    @property
    def lag_seconds(self) -> float:
        """The age of the latest event when it was read (RabbitMQ reports no stream lag)."""
        return self._pipeline.ingest.lag_seconds

    @property
    def parked(self) -> deque[ParkedMessage]:
        return self._pipeline.ingest.parked

    async def reach(self, offset: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the message at ``offset`` is processed."""
        return await self._pipeline.catch_up.reach(offset, timeout)

    def start(self) -> None:
        """Start reading in a background task (returns at once)."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="stream-relay-consumer")

    async def stop(self) -> None:
        """Stop reading and close the broker connection (and the local log).

        The task is cancelled, and also told to stop: a cancel can be swallowed on
        the way (Python 3.11's ``asyncio.wait_for``, ours or a library's, drops one
        that arrives as what it waits for completes), and a consumer that went on to
        subscribe would then follow the log forever (seen as a 30 s test teardown).
        """
        self._stopping = True
        if self._task is not None:
            await _cancel(self._task)
            self._task = None
        self._pipeline.close()

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._session()
                backoff = 0.2
            except Exception as exc:  # any failure means: reconnect
                task = asyncio.current_task()
                if self._stopping or (task is not None and task.cancelling()):
                    # stop() cancelled us and a close on the way out raised instead:
                    # reconnecting now would swallow the cancel and never stop.
                    raise asyncio.CancelledError from exc
                log.warning(
                    "event log consumer lost (%s: %s); reconnecting", type(exc).__name__, exc
                )
                self._metrics.consumer_restarts.labels(cause=type(exc).__name__).inc()
            finally:
                self._following(subscribed=False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self) -> None:
        """One subscription: declare, probe the end, subscribe, follow until it ends."""
        if not self._restored:
            await self._pipeline.restore()
            self._restored = True
        connection = await self._endpoints.connect_aio_pika(name="stream-relay-declare")
        try:
            await declare_topology(connection, self._max_age, replicas=self._replicas)
            end = await _log_end(connection)
        finally:
            await connection.close()
        offset = self._pipeline.subscribing(end)  # set before deliveries can arrive
        self._acks = BatchedAcks(every=max(1, self._prefetch // 4))  # tags are per channel
        self._last_delivery = time.monotonic()
        subscription = await self._endpoints.connect(
            lambda url, tls: StreamSubscription.open(
                url,
                EVENT_LOG_QUEUE,
                prefetch=self._prefetch,
                arguments={"x-stream-offset": offset},
                on_delivery=self._on_delivery,
                connection_name="stream-relay",
                tls=tls,
            )
        )
        try:
            self._acks.send = subscription.ack
            self._following(subscribed=True)
            node = redact(self._endpoints.last_answered)
            log.info("subscribed to %s on %s at offset %s", EVENT_LOG_QUEUE, node, offset)
            await self._follow(subscription)
        finally:
            await subscription.close()

    async def _follow(self, subscription: StreamSubscription) -> None:
        """Tick (every 0.1 s) until the subscription is lost or the pipeline saw a gap."""
        gap = self._pipeline.gap
        while not gap.is_set():
            if subscription.lost.done():
                subscription.lost.result()  # raises SubscriptionLost
            self._acks.flush()
            self._pipeline.flush()
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TICK_SECONDS):  # not wait_for: see _log_end
                    await gap.wait()
            self._pipeline.catch_up.idle(time.monotonic() - self._last_delivery)
        self._metrics.consumer_restarts.labels(cause="discontinuity").inc()

    def _on_delivery(self, delivery: Delivery) -> None:
        """One delivery, synchronously (called in delivery order), then noted for the ack."""
        self._last_delivery = time.monotonic()
        try:
            self._pipeline.receive(delivery)
        except Exception:  # a bug must not stop the log: skip the message, loudly
            log.exception("stream message (delivery %d) skipped", delivery.delivery_tag)
        finally:
            self._acks.note(delivery.delivery_tag)

    def _following(self, *, subscribed: bool) -> None:
        self.subscribed = subscribed
        self._metrics.consumer_up.set(int(subscribed))
        self._pipeline.catch_up.following(subscribed=subscribed)


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel the reading task and wait for it, bounded: a broker close that never
    answers must not hold the relay's shutdown (seen as a 30 s test teardown)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
    if not done:
        log.warning("event log consumer did not stop within %.0f s", STOP_SECONDS)
        return
    with contextlib.suppress(asyncio.CancelledError):
        await task

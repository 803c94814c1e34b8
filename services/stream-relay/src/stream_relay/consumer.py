"""The relay's reader of the event log (a RabbitMQ stream queue, DESIGN §6, §8).

Guarantees:
- on start it reads the whole retained stream (``x-stream-offset: first``) into
  the replay index, then follows it live, fanning each new event out;
- every message is acked, never rejected or nacked (that closes the whole
  connection on RabbitMQ 3.10), in batches (``multiple``) that never let the
  prefetch window fill; an undecodable or unknown-schema message is
  parked: logged, counted and skipped;
- it reconnects by itself (bounded back-off) and resubscribes at its own last
  processed offset, which it checks is still the same message. Any
  discontinuity (retention trimmed past it, or a recreated stream: a new
  epoch) clears the index, closes every stream (clients reconnect and get
  ``recovered: false``) and re-reads from ``first``: never a silent gap.

Catching up versus live (issue 5): until caught up, a message is indexed from a
quick read of its body (:meth:`IndexedEvent.from_body`) and fully validated
only when first replayed; an invalid one is parked then. Once caught up (and
for any user with an open stream) each event is validated before it is
indexed and its frames are encoded once when a connection takes it. Messages
arrive through :mod:`stream_relay.amqp_stream`: one synchronous call per
message, in delivery order, no task or await in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import aio_pika

from qahub_contracts.amqp_endpoints import BrokerEndpoints, redact
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE
from stream_relay.amqp_stream import StreamSubscription, SubscriptionLost
from stream_relay.fanout import ConnectionRegistry
from stream_relay.indexed_event import IndexedEvent, Unusable
from stream_relay.local_log import LocalLog
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import ReplayIndex

__all__ = ["ParkedMessage", "StreamConsumer"]

log = logging.getLogger("stream_relay.consumer")

_MAX_PARKED: Final = 100
_IDLE_CAUGHT_UP_SECONDS: Final = 0.3  # idle this long with the log's head reached (or unknown)
_IDLE_GIVE_UP_SECONDS: Final = 3.0  # idle this long: caught up even short of the expected head
_END_PROBE_SECONDS: Final = 0.5  # an empty log never answers the probe for its end
_END_PROBE_PAUSE: Final = 0.1  # deliveries from "last" paused this long: that was the end
_END_PROBE_PREFETCH: Final = 1000
_RECENT_SECONDS: Final = 1.0  # an event this fresh means the consumer is at the log's head
_TICK_SECONDS: Final = 0.1


class _Message(Protocol):
    """What the consumer reads of a delivery (:class:`stream_relay.amqp_stream.Delivery`)."""

    @property
    def delivery_tag(self) -> int: ...
    @property
    def headers(self) -> dict[str, object]: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def body(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A stream message the relay could not use; kept (bounded) for inspection."""

    offset: int
    reason: str
    message_id: str | None


def _fingerprint(message: _Message) -> str:
    return message.message_id or hashlib.sha256(message.body).hexdigest()


def _offset(headers: Mapping[str, object]) -> int:
    value = headers.get("x-stream-offset")
    if not isinstance(value, int):
        raise TypeError("a stream delivery without an integer x-stream-offset header")
    return value


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
            end, end_at = _offset(message.headers), time.monotonic()
            await message.ack()  # never a nack (it would close the connection)
            if not first.done():
                first.set_result(None)

        await queue.consume(on_delivery, arguments={"x-stream-offset": "last"})
        try:
            await asyncio.wait_for(first, _END_PROBE_SECONDS)
        except TimeoutError:
            return None
        deadline = time.monotonic() + _END_PROBE_SECONDS
        # The condition is a pause in deliveries, so it is measured on the clock.
        while time.monotonic() - end_at < _END_PROBE_PAUSE and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_END_PROBE_PAUSE / 4)
        return end
    finally:
        await channel.close()


class _BatchedAcks:
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
    """Reads the event log into a :class:`ReplayIndex` and a :class:`ConnectionRegistry`."""

    def __init__(
        self,
        *,
        endpoints: BrokerEndpoints,
        max_age: str,
        prefetch: int,
        index: ReplayIndex,
        registry: ConnectionRegistry,
        metrics: RelayMetrics,
        local_log: LocalLog | None = None,
        replicas: int = 1,
        max_backoff: float = 5.0,
    ) -> None:
        self._endpoints = endpoints
        self._replicas = replicas
        self._local = local_log  # RELAY_STATE_DIR: loaded before the first subscription
        self._loaded = local_log is None
        self._max_age = max_age
        self._prefetch = prefetch
        self._index = index
        self._registry = registry
        self._metrics = metrics
        self._max_backoff = max_backoff
        self._last: tuple[int, str] | None = None
        self._expect: tuple[int, str] | None = None
        self._restart = asyncio.Event()
        self._last_delivery = 0.0
        self._task: asyncio.Task[None] | None = None
        self._acks = _BatchedAcks(every=max(1, prefetch // 4))
        self._head: int | None = None  # the log's last offset when subscribing, until caught up
        self.caught_up = asyncio.Event()
        self.subscribed = False
        self.lag_seconds = 0.0
        self.parked: deque[ParkedMessage] = deque(maxlen=_MAX_PARKED)
        index.on_invalid = lambda entry, exc: self._park(entry.offset, exc.reason, entry.key)
        # Read at scrape time: setting two gauges per message costs more than the rest.
        metrics.consumer_offset.set_function(lambda: float(self.last_offset or 0))
        metrics.consumer_lag.set_function(lambda: self.lag_seconds)

    @property
    def last_offset(self) -> int | None:
        """Offset of the latest message processed (parked ones included)."""
        return self._last[0] if self._last else None

    async def reach(self, offset: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the message at ``offset`` is processed.

        A client reconnecting from another relay may carry an id a little ahead
        of this one; waiting briefly turns that into a replay instead of a
        needless ``recovered: false``.
        """
        deadline = time.monotonic() + timeout
        while (self.last_offset is None or self.last_offset < offset) and self.subscribed:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return self.last_offset is not None and self.last_offset >= offset

    def start(self) -> None:
        """Start reading in a background task (returns at once)."""
        self._task = asyncio.create_task(self._run(), name="stream-relay-consumer")

    async def stop(self) -> None:
        """Stop reading and close the broker connection (and the local log)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._local is not None:
            self._local.close()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._session()
                backoff = 0.2
            except Exception as exc:  # any failure means: reconnect
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # stop() cancelled us and a close on the way out raised instead:
                    # reconnecting now would swallow the cancel and never stop.
                    raise asyncio.CancelledError from exc
                log.warning(
                    "event log consumer lost (%s: %s); reconnecting", type(exc).__name__, exc
                )
                self._metrics.consumer_restarts.labels(cause=type(exc).__name__).inc()
            finally:
                self.subscribed = False
                self._metrics.consumer_up.set(0)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self) -> None:
        """One subscription: declare, subscribe, then follow until it ends or must restart."""
        if not self._loaded:
            await self._load_local_log()
        connection = await self._endpoints.connect_aio_pika(name="stream-relay-declare")
        try:
            await declare_topology(connection, self._max_age, replicas=self._replicas)
            end = await _log_end(connection)
        finally:
            await connection.close()
        if self._last is not None and (end is None or end < self._last[0]):
            # Retention never empties a log: a shorter one was deleted and declared again
            # (subscribing past its end would wait there, silently, for offsets to catch up).
            self._discontinuity(f"the log now ends at offset {end}, before {self._last[0]}")
        if end is not None and not self.caught_up.is_set():
            self._head = end  # set before subscribing: deliveries may come during the open
        subscription = await self._subscribe()
        try:
            await self._follow(subscription)
        finally:
            await subscription.close()

    async def _subscribe(self) -> StreamSubscription:
        self._expect = self._last
        self._acks = _BatchedAcks(every=max(1, self._prefetch // 4))  # tags are per channel
        offset: int | str = self._last[0] if self._last else "first"
        self._restart.clear()
        self._last_delivery = time.monotonic()
        subscription = await self._endpoints.connect(
            lambda url, tls: StreamSubscription.open(
                url,
                EVENT_LOG_QUEUE,
                prefetch=self._prefetch,
                arguments={"x-stream-offset": offset},
                on_delivery=self._on_message,
                connection_name="stream-relay",
                tls=tls,
            )
        )
        self._acks.send = subscription.ack
        self.subscribed = True
        self._metrics.consumer_up.set(1)
        node = redact(self._endpoints.last_answered)
        log.info("subscribed to %s on %s at offset %s", EVENT_LOG_QUEUE, node, offset)
        return subscription

    async def _follow(self, subscription: StreamSubscription) -> None:
        """Tick (every 0.1 s) until the subscription is lost or a restart is asked for."""
        while not self._restart.is_set():
            if subscription.lost.done():
                subscription.lost.result()  # raises SubscriptionLost
            self._acks.flush()
            if self._local is not None:
                self._local.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restart.wait(), _TICK_SECONDS)
            idle = time.monotonic() - self._last_delivery
            # Idle with the head unknown (an empty log), or idle for long short of it.
            wait = _IDLE_CAUGHT_UP_SECONDS if self._head is None else _IDLE_GIVE_UP_SECONDS
            if not self.caught_up.is_set() and idle >= wait:
                log.info("event log caught up at offset %s (idle)", self.last_offset)
                self.caught_up.set()
        self._metrics.consumer_restarts.labels(cause="discontinuity").inc()

    def _on_message(self, message: _Message) -> None:
        """One delivery, synchronously (called in delivery order), then noted for the ack."""
        self._last_delivery = time.monotonic()
        try:
            self._handle(message)
        except Exception:  # a bug must not stop the log: skip the message, loudly
            log.exception("stream message (delivery %d) skipped", message.delivery_tag)
        finally:
            self._acks.note(message.delivery_tag)

    def _handle(self, message: _Message) -> None:
        if self._restart.is_set():
            return
        offset = _offset(message.headers)
        fingerprint = _fingerprint(message)
        if self._expect is not None:
            expected, self._expect = self._expect, None
            if expected == (offset, fingerprint):
                self._at_head(offset)  # a relay resuming from its local log may be there
                return  # the last message processed before the reconnect: already indexed
            self._discontinuity(f"expected offset {expected[0]} again, got {offset}")
            return
        if self._last is not None and offset <= self._last[0]:
            return
        self._last = (offset, fingerprint)
        self._at_head(offset)
        self._process(offset, fingerprint, message)

    def _at_head(self, offset: int) -> None:
        if self._head is not None and offset >= self._head and not self.caught_up.is_set():
            log.info("event log caught up at offset %s (its head when subscribing)", offset)
            self.caught_up.set()

    async def _load_local_log(self) -> None:
        """Rebuild the index from the local log; the subscription resumes after it."""
        assert self._local is not None  # noqa: S101 - only called with one
        started = time.monotonic()
        resume = await self._local.load(self._index.add)
        self._loaded = True
        if resume is not None:
            self._last = (resume.offset, resume.fingerprint)
            log.info(
                "index rebuilt from the local log: %d events in %.1fs; resuming at offset %d",
                resume.events,
                time.monotonic() - started,
                resume.offset,
            )

    def _process(self, offset: int, fingerprint: str, message: _Message) -> None:
        try:
            entry = IndexedEvent.from_body(offset, message.body)
            self.lag_seconds = max(0.0, time.time() - entry.happened_at)
            if self.lag_seconds < _RECENT_SECONDS and not self.caught_up.is_set():
                # Under steady traffic the log never goes idle; a fresh event marks the head.
                log.info("event log caught up at offset %s (live events)", offset)
                self.caught_up.set()
            listened = self._registry.count(entry.user_id) > 0
            if listened or self.caught_up.is_set():
                entry.hold()  # validate now: a live event is parked at once, never indexed
        except Unusable as exc:
            self._park(offset, exc.reason, message.message_id)
            return
        if self._index.add(entry) is None:
            self._metrics.duplicates.inc()
            entry.release()
            return
        if self._local is not None:
            self._local.append(entry, fingerprint)
        if listened and self._registry.publish(entry):
            entry.encode()  # once, for every connection that took it
        entry.release()

    def _park(self, offset: int, reason: str, message_id: str | None) -> None:
        self.parked.append(ParkedMessage(offset, reason, message_id))
        self._metrics.parked.labels(reason=reason).inc()
        log.warning("parked stream message at offset %d: %s", offset, reason)

    def _discontinuity(self, what: str) -> None:
        log.warning("event log discontinuity: %s; re-reading from first", what)
        self._index.clear()
        if self._local is not None:
            self._local.reset()
        self._registry.close_all("log discontinuity")
        self._last = None
        self._head = None
        self.caught_up.clear()
        self._restart.set()

"""One SSE connection, from connect to close (DESIGN §5; timeline in ARCHITECTURE.md).

Guarantees, in frame order:
1. the opening frames (:mod:`stream_relay.opening`): ``connected``, then the
   replay and one ``stats``, or ``stats`` and ``recent``;
2. then live events, each followed by its ``stats``, minus those the opening
   frames covered or the connection already got (:mod:`stream_relay.frames`):
   no loss, no duplicate;
3. a ``: heartbeat`` comment whenever nothing was written for the interval;
4. the stream ends when the token expires, the client is too slow (its socket
   is closed then: it is not reading) or gone, or
   the relay shuts down or sees a gap in the log; the connection is released
   on the way out, whatever ended it.

:meth:`StreamSession.run` hands each chunk of frames to a ``write`` callable
(:mod:`stream_relay.sse_response` writes it to the ASGI ``send``); an idle
session is one suspended coroutine waiting on its connection's one future.
Given a :class:`DirectWriter` as well, a live session attaches a sink to its
connection: the fan-out then writes each event's frames synchronously (no
wake-up of the coroutine), except while a ``write`` is in flight or the direct
writer is not ready: those events queue and the coroutine writes them, in
order. Such a session's heartbeat comes from the relay's shared timer
(:mod:`stream_relay.heartbeat`); its coroutine sleeps until an event is queued,
the stream is closed or the token expires.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from stream_relay import sse
from stream_relay.frames import ConnectionFrames
from stream_relay.opening import HandOver, connected_frame, initial_frames

if TYPE_CHECKING:
    from qahub_contracts.auth import Principal
    from stream_relay.fanout import Connection, ConnectionRegistry
    from stream_relay.heartbeat import Heartbeats
    from stream_relay.indexed_event import IndexedEvent
    from stream_relay.metrics import RelayMetrics
    from stream_relay.replay import ReplayIndex
    from stream_relay.security import Caller
    from stream_relay.snapshot_cache import SnapshotCache

__all__ = ["DirectWriter", "LiveStream", "SessionConfig", "StreamSession", "Write"]

log = logging.getLogger("stream_relay.session")

Write = Callable[[bytes], Awaitable[None]]


class DirectWriter(Protocol):
    """Synchronous writes onto the client's socket (``sse_response.TransportWriter``)."""

    def ready(self) -> bool:
        """Whether a write now goes out without waiting (the client is reading)."""

    def write(self, chunk: bytes) -> None:
        """One chunk of frames, now (call :meth:`ready` first)."""

    def abort(self) -> None:
        """Close the socket now (a client that does not read)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-relay settings every session shares."""

    heartbeat_seconds: float
    retry_ms: int
    heartbeats: Heartbeats | None = None  # the shared timer for directly written streams
    retry_jitter: float = 0.0  # each stream's `retry:` is retry_ms +- this fraction

    def stream_retry_ms(self) -> int:
        """One stream's ``retry:``, drawn uniformly from ``retry_ms`` +- ``retry_jitter``:
        the clients of a relay that dies come back spread over that window, not at once."""
        spread = self.retry_ms * self.retry_jitter
        return round(self.retry_ms - spread + random.random() * 2 * spread)  # noqa: S311 - not a secret


class StreamSession:
    """One stream from connect to close; :meth:`open` registers it first."""

    __slots__ = (
        "_caller",
        "_config",
        "_connection",
        "_direct",
        "_hand_over",
        "_metrics",
        "_registry",
        "_rules",
        "_snapshots",
    )

    def __init__(
        self,
        caller: Caller,
        connection: Connection,
        hand_over: HandOver,
        *,
        registry: ConnectionRegistry,
        snapshots: SnapshotCache,
        metrics: RelayMetrics,
        config: SessionConfig,
    ) -> None:
        self._caller = caller
        self._connection = connection
        self._hand_over: HandOver | None = hand_over  # dropped once the opening frames are out
        self._rules = ConnectionFrames(hand_over.horizon)
        self._registry = registry
        self._snapshots = snapshots
        self._metrics = metrics
        self._config = config
        self._direct: DirectWriter | None = None

    @classmethod
    def open(
        cls,
        caller: Caller,
        last_event_id: str | None,
        *,
        index: ReplayIndex,
        registry: ConnectionRegistry,
        snapshots: SnapshotCache,
        metrics: RelayMetrics,
        config: SessionConfig,
    ) -> StreamSession:
        """Register for live events, then take the hand-over: one synchronous step.

        Raises:
            fanout.TooManyStreams: the user is at the limit.
        """
        user = caller.principal.user_id
        connection = registry.open(user)
        hand_over = HandOver.take(index, user, last_event_id)
        return cls(
            caller,
            connection,
            hand_over,
            registry=registry,
            snapshots=snapshots,
            metrics=metrics,
            config=config,
        )

    def close(self, reason: str) -> None:
        """End the stream from outside (the client went away): :meth:`run` returns."""
        self._connection.close(reason)

    async def run(self, write: Write, direct: DirectWriter | None = None) -> None:
        """Write every frame of the stream, in the order the module docstring promises,
        until the stream ends; the connection is released on the way out."""
        started = time.monotonic()
        hand_over, self._hand_over = self._hand_over, None
        assert hand_over is not None  # noqa: S101 - run() is called once
        recovered = hand_over.replay.recovered
        connection, rules, metrics = self._connection, self._rules, self._metrics
        self._direct = direct
        connection.on_close = self._closed
        retry_ms = self._config.stream_retry_ms()
        try:
            await write(connected_frame(connection, recovered=recovered, retry_ms=retry_ms))
            before = rules.delivered
            opening = await initial_frames(
                hand_over,
                rules,
                user_id=connection.user_id,
                token=self._caller.token,
                snapshots=self._snapshots,
                metrics=metrics,
            )
            metrics.events_delivered.value += rules.delivered - before
            await write(opening)
            live = LiveStream(connection, rules, self._caller.principal, metrics, self._config)
            await live.run(write, direct)
        finally:
            connection.attach(None)
            self._registry.release(connection)
            log.info(
                "stream closed client=%s user=%s recovered=%s delivered=%d reason=%s after %.1fs",
                connection.client_id,
                connection.user_id,
                recovered,
                rules.delivered,
                connection.closed_reason or "client gone",
                time.monotonic() - started,
            )

    def _closed(self, reason: str) -> None:
        """A client dropped as slow is not reading: its socket is closed too, since a
        write to it may wait forever (and the stream with it, holding its slot)."""
        if reason == "slow" and self._direct is not None:
            self._direct.abort()


class LiveStream:
    """The live part of one stream: queued events, the direct sink, heartbeats."""

    __slots__ = (
        "_config",
        "_connection",
        "_direct",
        "_last_write",
        "_metrics",
        "_principal",
        "_rules",
        "_writing",
    )

    def __init__(
        self,
        connection: Connection,
        rules: ConnectionFrames,
        principal: Principal,
        metrics: RelayMetrics,
        config: SessionConfig,
    ) -> None:
        self._connection = connection
        self._rules = rules
        self._principal = principal
        self._metrics = metrics
        self._config = config
        self._direct: DirectWriter | None = None
        self._writing = False  # a `write` is in flight: the sink must not overtake it
        self._last_write = time.monotonic()

    async def run(self, write: Write, direct: DirectWriter | None) -> None:
        """Deliver live events until the connection is closed or the token expires."""
        self._direct = direct
        beats = self._config.heartbeats if direct is not None else None
        if direct is not None:
            self._connection.attach(self._sink)
        if beats is not None:
            beats.add(self)
        try:
            await self._loop(write, own_heartbeat=beats is None)
        finally:
            if beats is not None:
                beats.discard(self)

    async def _loop(self, write: Write, *, own_heartbeat: bool) -> None:
        connection, rules = self._connection, self._rules
        principal = self._principal
        heartbeat = self._config.heartbeat_seconds
        while True:
            left = principal.seconds_left()
            if left <= 0:
                connection.close("token expired")
            if connection.closed_reason is not None:
                return
            if not own_heartbeat:
                await connection.wait(left)  # the shared timer beats (see beat)
                beat_due = False
            else:
                due = heartbeat - (time.monotonic() - self._last_write)
                timed_out = await connection.wait(max(0.0, min(due, left)))
                # A timer may fire a hair before the clock says the interval is over:
                # a timed-out wait for the heartbeat (not the expiry) means it is due.
                since = time.monotonic() - self._last_write
                beat_due = (timed_out and due <= left) or since >= heartbeat
            queued = connection.drain()
            before = rules.delivered
            chunk = rules.live_chunk(queued) if queued else b""
            self._metrics.events_delivered.value += rules.delivered - before
            if not chunk and beat_due:
                chunk = sse.HEARTBEAT
            if chunk:
                self._writing = True
                try:
                    await write(chunk)
                finally:
                    self._writing = False
                self._last_write = time.monotonic()

    def beat(self, now: float) -> None:
        """The shared timer's call: a heartbeat if nothing was written for the interval.

        Skipped while a write is in flight or the client is not reading (bytes are
        pending then anyway); a closed connection is its coroutine's to end.
        """
        direct = self._direct
        if now - self._last_write < self._config.heartbeat_seconds or direct is None:
            return
        if not self._writing and direct.ready():
            direct.write(sse.HEARTBEAT)
            self._last_write = now

    def _sink(self, entry: IndexedEvent) -> bool:
        """The fan-out's synchronous path (see the module docstring); ``False``: queue it."""
        direct = self._direct
        if (
            direct is None
            or self._writing
            or not direct.ready()
            or time.time() >= self._principal.expires_at
        ):
            return False
        rules = self._rules
        before = rules.delivered
        frames = rules.live(entry)
        if frames:
            self._metrics.events_delivered.value += rules.delivered - before
            direct.write(frames)
            self._last_write = time.monotonic()
        return True

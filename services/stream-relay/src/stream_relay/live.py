"""The live part of one stream: queued events, the direct sink, heartbeats (DESIGN §5).

Guarantees:
- live events reach the client in log order, each followed by its ``stats``,
  minus what the connection's frame rules (:mod:`stream_relay.frames`) drop;
- with a :class:`DirectWriter`, the fan-out writes each event's frames
  synchronously through the connection's sink (no wake-up of the stream's
  coroutine), except while a ``write`` is in flight or the client is not
  reading: those events queue and the coroutine writes them, in order;
- a ``: heartbeat`` comment whenever nothing was written for the interval:
  from the relay's one timer (:class:`stream_relay.sse_response.Heartbeats`) for directly
  written streams, else from the coroutine's own timer;
- it returns when the connection is closed or the token expires.
An idle stream is one suspended coroutine waiting on its connection's one
future.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from stream_relay import sse

if TYPE_CHECKING:
    from qahub_contracts.auth import Principal
    from stream_relay.fanout import Connection
    from stream_relay.frames import ConnectionFrames
    from stream_relay.indexed_event import IndexedEvent
    from stream_relay.metrics import RelayMetrics
    from stream_relay.sse_response import Heartbeats

__all__ = ["DirectWriter", "LiveStream", "Write"]

Write = Callable[[bytes], Awaitable[None]]


class DirectWriter(Protocol):
    """Synchronous writes onto the client's socket (``response_socket.ResponseSocket``)."""

    def ready(self) -> bool:
        """Whether a write now goes out without waiting (the client is reading)."""

    def write(self, chunk: bytes) -> None:
        """One chunk of frames, now (call :meth:`ready` first)."""

    def abort(self) -> None:
        """Close the socket now (a client that does not read)."""


class LiveStream:
    """The live part of one stream: queued events, the direct sink, heartbeats."""

    __slots__ = (
        "_beats",
        "_connection",
        "_direct",
        "_heartbeat",
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
        *,
        heartbeat_seconds: float,
        heartbeats: Heartbeats | None,
    ) -> None:
        self._connection = connection
        self._rules = rules
        self._principal = principal
        self._metrics = metrics
        self._heartbeat = heartbeat_seconds
        self._beats = heartbeats  # the relay's shared timer, for a directly written stream
        self._direct: DirectWriter | None = None
        self._writing = False  # a `write` is in flight: the sink must not overtake it
        self._last_write = time.monotonic()

    async def run(self, write: Write, direct: DirectWriter | None) -> None:
        """Deliver live events until the connection is closed or the token expires."""
        self._direct = direct
        beats = self._beats if direct is not None else None
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
        heartbeat = self._heartbeat
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
        if now - self._last_write < self._heartbeat or direct is None:
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

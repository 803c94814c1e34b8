"""One SSE connection, from connect to close (DESIGN §5; timeline in ARCHITECTURE.md).

Guarantees, in frame order:
1. ``retry:`` and ``connected {clientId, userId, timestamp, recovered}`` first;
2. recovered: every missed event of the user, in order, then one ``stats``;
   not recovered: ``stats`` and ``recent`` (each only when known);
3. then live events, each followed by its ``stats``. The connection was
   registered for live events *before* the replay/snapshot was taken; events
   that arrived meanwhile were held back and are delivered now, minus those
   already covered (offset at or below the hand-over horizon, an eventId
   already sent, or a creation already listed in ``recent``): no loss, no
   duplicate;
4. a ``: heartbeat`` comment whenever nothing was written for the interval;
5. the stream ends when the token expires, the client is too slow or gone, or
   the relay shuts down or sees a gap in the log.

:meth:`StreamSession.run` hands each chunk of frames to a ``write`` callable
(:mod:`stream_relay.sse_response` writes it to the ASGI ``send``); an idle
session is one suspended coroutine waiting on its connection's one future.
Given a ``direct`` writer as well, a live session attaches a sink to its
connection: the fan-out then writes each event's frames synchronously (no
wake-up of the coroutine), except while a ``write`` is in flight or the direct
writer is not ready: those events queue and the coroutine writes them, in
order. Such a session's heartbeat comes from the relay's shared timer
(:mod:`stream_relay.heartbeat`); its coroutine sleeps until an event is queued,
the stream is closed or the token expires.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from uuid import UUID

import orjson

from qahub_contracts.api import RecentNotifications, Stats
from stream_relay import sse
from stream_relay.replay import sse_id

if TYPE_CHECKING:
    from stream_relay.fanout import Connection, ConnectionRegistry
    from stream_relay.heartbeat import Heartbeats
    from stream_relay.metrics import RelayMetrics
    from stream_relay.replay import IndexedEvent, Replay, ReplayIndex
    from stream_relay.security import Caller
    from stream_relay.snapshot import SnapshotClient
    from stream_relay.sse_response import TransportWriter

__all__ = ["SessionConfig", "StreamSession", "Write"]

log = logging.getLogger("stream_relay.session")

_SEEN_LIMIT: Final = 4096

Write = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-relay settings every session shares."""

    heartbeat_seconds: float
    retry_ms: int
    heartbeats: Heartbeats | None = None  # the shared timer for directly written streams


@dataclass(frozen=True, slots=True)
class _HandOver:
    replay: Replay
    horizon: int
    latest_stats: Stats | None


class _SeenIds:
    """The last ``limit`` eventIds written to one connection: O(1) membership."""

    __slots__ = ("_ids", "_limit", "_order")

    def __init__(self, limit: int) -> None:
        self._ids: set[UUID] = set()
        self._order: deque[UUID] = deque()
        self._limit = limit

    def add(self, event_id: UUID) -> bool:
        """Remember ``event_id``; ``False`` when it was already there."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._limit:
            self._ids.discard(self._order.popleft())
        return True


class StreamSession:
    """Produces the frames of one stream; :meth:`open` registers it first."""

    __slots__ = (
        "_caller",
        "_config",
        "_connection",
        "_delivered",
        "_direct",
        "_hand_over",
        "_horizon",
        "_last_write",
        "_metrics",
        "_recovered",
        "_registry",
        "_seen",
        "_skip_created",
        "_snapshots",
        "_writing",
    )

    def __init__(
        self,
        caller: Caller,
        connection: Connection,
        hand_over: _HandOver,
        *,
        registry: ConnectionRegistry,
        snapshots: SnapshotClient,
        metrics: RelayMetrics,
        config: SessionConfig,
    ) -> None:
        self._caller = caller
        self._connection = connection
        self._hand_over: _HandOver | None = hand_over  # dropped once the initial frames are out
        self._horizon = hand_over.horizon
        self._recovered = hand_over.replay.recovered
        self._registry = registry
        self._snapshots = snapshots
        self._metrics = metrics
        self._config = config
        self._seen: _SeenIds | None = None  # made on the first event: idle streams stay small
        self._skip_created: frozenset[UUID] = frozenset()
        self._delivered = 0
        self._direct: TransportWriter | None = None
        self._writing = False  # a `write` is in flight: the sink must not overtake it
        self._last_write = 0.0

    @classmethod
    def open(
        cls,
        caller: Caller,
        last_event_id: str | None,
        *,
        index: ReplayIndex,
        registry: ConnectionRegistry,
        snapshots: SnapshotClient,
        metrics: RelayMetrics,
        config: SessionConfig,
    ) -> StreamSession:
        """Register for live events, then take the replay: one synchronous step.

        Raises:
            fanout.TooManyStreams: the user is at the limit.
        """
        user = caller.principal.user_id
        connection = registry.open(user)
        latest = index.latest(user)
        hand_over = _HandOver(
            replay=index.since(user, last_event_id),
            horizon=-1 if index.last_offset is None else index.last_offset,
            latest_stats=latest.event.stats if latest else None,
        )
        return cls(
            caller,
            connection,
            hand_over,
            registry=registry,
            snapshots=snapshots,
            metrics=metrics,
            config=config,
        )

    @property
    def recovered(self) -> bool:
        return self._recovered

    def close(self, reason: str) -> None:
        """End the stream from outside (the client went away): :meth:`run` returns."""
        self._connection.close(reason)

    async def run(self, write: Write, direct: TransportWriter | None = None) -> None:
        """Write every frame of the stream, in the order the module docstring promises,
        until the stream ends; the connection is released on the way out."""
        started = time.monotonic()
        self._direct = direct
        try:
            await write(self._connected())
            await write(await self._initial())
            await self._live(write)
        finally:
            self._connection.attach(None)
            self._registry.release(self._connection)
            log.info(
                "stream closed client=%s user=%s recovered=%s delivered=%d reason=%s after %.1fs",
                self._connection.client_id,
                self._connection.user_id,
                self._recovered,
                self._delivered,
                self._connection.closed_reason or "client gone",
                time.monotonic() - started,
            )

    def _connected(self) -> bytes:
        data = {
            "clientId": self._connection.client_id,
            "userId": self._connection.user_id,
            "timestamp": datetime.now(UTC).isoformat(),
            "recovered": self._recovered,
        }
        payload = orjson.dumps(data).decode()
        return sse.encode_frame(payload, event="connected", retry_ms=self._config.retry_ms)

    async def _initial(self) -> bytes:
        hand_over, self._hand_over = self._hand_over, None
        assert hand_over is not None  # noqa: S101 - run() takes it once
        replay = hand_over.replay
        if replay.recovered:
            self._metrics.replays.labels(recovered="true").inc()
            self._metrics.replay_size.observe(len(replay.events))
            stats = hand_over.latest_stats
            return self._chunk(replay.events, live=False) + (
                sse.stats_frame(stats) if stats else b""
            )
        if replay.reason != "no id":
            self._metrics.replays.labels(recovered="false").inc()
        self._metrics.not_recovered.labels(reason=replay.reason).inc()
        return await self._snapshot(hand_over.latest_stats)

    async def _snapshot(self, latest_stats: Stats | None) -> bytes:
        snapshot = await self._snapshots.fetch(self._caller.token)
        stats = snapshot.stats or latest_stats
        chunks = [sse.stats_frame(stats) if stats else b""]
        if snapshot.recent is not None:
            self._skip_created = frozenset(n.id for n in snapshot.recent)
            recent = RecentNotifications(notifications=snapshot.recent)
            chunks.append(sse.encode_frame(recent.model_dump_json(by_alias=True), event="recent"))
        return b"".join(chunks)

    async def _live(self, write: Write) -> None:
        connection = self._connection
        self._last_write = time.monotonic()
        beats = self._config.heartbeats if self._direct is not None else None
        if self._direct is not None:
            connection.attach(self._sink)
        if beats is not None:
            beats.add(self)
        try:
            await self._live_loop(write, own_heartbeat=beats is None)
        finally:
            if beats is not None:
                beats.discard(self)

    async def _live_loop(self, write: Write, *, own_heartbeat: bool) -> None:
        connection = self._connection
        principal = self._caller.principal
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
            chunk = self._chunk(queued, live=True) if queued else b""
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
            or time.time() >= self._caller.principal.expires_at
        ):
            return False
        frames = self._frames(entry, live=True)
        if frames:
            direct.write(frames)
            self._last_write = time.monotonic()
        return True

    def _chunk(self, entries: Iterable[IndexedEvent], *, live: bool) -> bytes:
        """The frames of ``entries`` as one chunk (one write)."""
        return b"".join([self._frames(entry, live=live) for entry in entries])

    def _frames(self, entry: IndexedEvent, *, live: bool) -> bytes:
        """The entry's frames, or nothing when the client has (or will get) it already."""
        if live and entry.offset <= self._horizon:
            return b""
        if self._skip_created and entry.created_notification in self._skip_created:
            # Already listed in `recent`: no event, but an id-only frame, so the client's
            # Last-Event-ID still advances (WHATWG: the id is kept, nothing is dispatched)
            # and a reconnect replays from here instead of answering recovered: false.
            return sse.encode_frame(id=sse_id(entry.offset, entry.event_id))
        if self._seen is None:
            self._seen = _SeenIds(_SEEN_LIMIT)
        if not self._seen.add(entry.event_id):
            return b""
        self._delivered += 1
        self._metrics.events_delivered.value += 1
        return entry.live if live else entry.frame

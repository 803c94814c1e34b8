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
5. the stream ends when the token expires, the client is too slow, or the
   relay shuts down or sees a gap in the log.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from uuid import UUID

import orjson

from qahub_contracts.api import RecentNotifications, Stats
from stream_relay import sse

if TYPE_CHECKING:
    from stream_relay.fanout import Connection, ConnectionRegistry
    from stream_relay.metrics import RelayMetrics
    from stream_relay.replay import IndexedEvent, Replay, ReplayIndex
    from stream_relay.security import Caller
    from stream_relay.snapshot import SnapshotClient

__all__ = ["SessionConfig", "StreamSession"]

log = logging.getLogger("stream_relay.session")

_SEEN_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-relay settings every session shares."""

    heartbeat_seconds: float
    retry_ms: int


@dataclass(frozen=True, slots=True)
class _HandOver:
    replay: Replay
    horizon: int
    latest_stats: Stats | None


class StreamSession:
    """Produces the frames of one stream; :meth:`open` registers it first."""

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
        self._hand_over = hand_over
        self._registry = registry
        self._snapshots = snapshots
        self._metrics = metrics
        self._config = config
        self._seen: deque[UUID] = deque(maxlen=_SEEN_LIMIT)
        self._skip_created: set[UUID] = set()
        self._delivered = 0

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
        return self._hand_over.replay.recovered

    async def frames(self) -> AsyncIterator[bytes]:
        """Every frame of the stream, in the order the module docstring promises."""
        started = time.monotonic()
        try:
            yield self._connected()
            yield await self._initial()
            async for chunk in self._live():
                yield chunk
        finally:
            self._registry.release(self._connection)
            log.info(
                "stream closed client=%s user=%s recovered=%s delivered=%d reason=%s after %.1fs",
                self._connection.client_id,
                self._connection.user_id,
                self.recovered,
                self._delivered,
                self._connection.closed_reason or "client gone",
                time.monotonic() - started,
            )

    def _connected(self) -> bytes:
        data = {
            "clientId": self._connection.client_id,
            "userId": self._connection.user_id,
            "timestamp": datetime.now(UTC).isoformat(),
            "recovered": self.recovered,
        }
        payload = orjson.dumps(data).decode()
        return sse.encode_frame(payload, event="connected", retry_ms=self._config.retry_ms)

    async def _initial(self) -> bytes:
        replay = self._hand_over.replay
        if replay.recovered:
            self._metrics.replays.labels(recovered="true").inc()
            self._metrics.replay_size.observe(len(replay.events))
            chunks = [self._send(entry, live=False) for entry in replay.events]
            stats = self._hand_over.latest_stats
            chunks.append(sse.stats_frame(stats) if stats else b"")
            return b"".join(chunks)
        if replay.reason != "no id":
            self._metrics.replays.labels(recovered="false").inc()
        self._metrics.not_recovered.labels(reason=replay.reason).inc()
        return await self._snapshot()

    async def _snapshot(self) -> bytes:
        snapshot = await self._snapshots.fetch(self._caller.token)
        stats = snapshot.stats or self._hand_over.latest_stats
        chunks = [sse.stats_frame(stats) if stats else b""]
        if snapshot.recent is not None:
            self._skip_created = {n.id for n in snapshot.recent}
            recent = RecentNotifications(notifications=snapshot.recent)
            chunks.append(sse.encode_frame(recent.model_dump_json(by_alias=True), event="recent"))
        return b"".join(chunks)

    async def _live(self) -> AsyncIterator[bytes]:
        last_write = time.monotonic()
        heartbeat = self._config.heartbeat_seconds
        while True:
            left = self._caller.principal.seconds_left()
            if left <= 0:
                self._connection.close("token expired")
            if self._connection.closed_reason is not None:
                return
            due = heartbeat - (time.monotonic() - last_write)
            timed_out = await self._connection.wait(max(0.0, min(due, left)))
            chunk = b"".join(self._send(e, live=True) for e in self._connection.drain())
            # A timer may fire a hair before the clock says the interval is over: a
            # timed-out wait for the heartbeat (not for the expiry) means it is due.
            beat_due = (timed_out and due <= left) or time.monotonic() - last_write >= heartbeat
            if not chunk and beat_due:
                chunk = sse.HEARTBEAT
            if chunk:
                yield chunk
                last_write = time.monotonic()

    def _send(self, entry: IndexedEvent, *, live: bool) -> bytes:
        """The entry's frames, or nothing when the client has (or will get) it already."""
        if live and entry.offset <= self._hand_over.horizon:
            return b""
        if entry.event_id in self._seen or entry.created_notification in self._skip_created:
            return b""
        self._seen.append(entry.event_id)
        self._delivered += 1
        self._metrics.events_delivered.inc()
        return entry.live if live else entry.frame

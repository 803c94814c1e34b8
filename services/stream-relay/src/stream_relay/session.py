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
(:class:`~stream_relay.sse_response.SseResponse` writes it to the socket), and,
once the opening frames are out, the stream to :class:`~stream_relay.live.LiveStream`
(live events, the direct sink, heartbeats).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stream_relay.frames import ConnectionFrames
from stream_relay.live import DirectWriter, LiveStream, Write
from stream_relay.opening import HandOver, connected_frame, replayed_frames, snapshot_frames

if TYPE_CHECKING:
    from stream_relay.fanout import Connection, ConnectionRegistry
    from stream_relay.metrics import RelayMetrics
    from stream_relay.replay import ReplayIndex
    from stream_relay.security import Caller
    from stream_relay.snapshot_cache import SnapshotCache
    from stream_relay.sse_response import Heartbeats

__all__ = ["SessionConfig", "StreamSession"]

log = logging.getLogger("stream_relay.session")


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
            await write(await self._opening(hand_over, retry_ms, write))
            live = LiveStream(
                connection,
                rules,
                self._caller.principal,
                metrics,
                heartbeat_seconds=self._config.heartbeat_seconds,
                heartbeats=self._config.heartbeats,
            )
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

    async def _opening(self, hand_over: HandOver, retry_ms: int, write: Write) -> bytes:
        """``connected`` and the opening frames, to be written in one go; when the
        snapshot has to be awaited, ``connected`` is written first, alone."""
        connection, rules = self._connection, self._rules
        before = rules.delivered
        frames = connected_frame(
            connection, recovered=hand_over.replay.recovered, retry_ms=retry_ms
        )
        opening = replayed_frames(hand_over, rules, self._metrics)
        if opening is None:
            snapshot = self._snapshots.ready(connection.user_id)
            if snapshot is None:
                await write(frames)
                frames = b""
                snapshot = await self._snapshots.get(connection.user_id, self._caller.token)
            opening = snapshot_frames(hand_over, rules, snapshot)
        self._metrics.events_delivered.value += rules.delivered - before
        return frames + opening

    def _closed(self, reason: str) -> None:
        """A client dropped as slow is not reading: its socket is closed too, since a
        write to it may wait forever (and the stream with it, holding its slot)."""
        if reason == "slow" and self._direct is not None:
            self._direct.abort()

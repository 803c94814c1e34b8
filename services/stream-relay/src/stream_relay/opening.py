"""The frames a stream opens with, and the hand-over they rest on (DESIGN §5 "Order on connect").

Guarantees:
- :meth:`HandOver.take` runs in one synchronous step, right after the
  connection was registered for live events: the replay, the horizon (the
  index's last offset) and the user's latest indexed ``stats`` all describe
  the same moment, so every event is either covered here (at or below the
  horizon) or queued on the connection (above it);
- :func:`connected_frame` is the first frame: ``retry:`` and ``connected
  {clientId, userId, timestamp, recovered}``;
- :func:`initial_frames` follows it: recovered, every missed event of the
  user in order, then one ``stats`` (no API call); not recovered, ``stats``
  (the API's, else the latest indexed) and ``recent`` (when the API answered),
  whose notifications the connection's frame rules then skip live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from qahub_contracts.api import Stats
from stream_relay import sse
from stream_relay.fanout import Connection
from stream_relay.frames import ConnectionFrames
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import Replay, ReplayIndex
from stream_relay.snapshot_cache import SnapshotCache

__all__ = ["HandOver", "connected_frame", "initial_frames"]


@dataclass(frozen=True, slots=True)
class HandOver:
    """What a new connection is owed before its live events."""

    replay: Replay
    horizon: int  # every event at or below it is covered by the replay or the snapshot
    latest_stats: Stats | None

    @classmethod
    def take(cls, index: ReplayIndex, user_id: str, last_event_id: str | None) -> HandOver:
        """The replay for ``last_event_id`` and the horizon, now (no await)."""
        latest = index.latest(user_id)
        return cls(
            replay=index.since(user_id, last_event_id),
            horizon=-1 if index.last_offset is None else index.last_offset,
            latest_stats=latest.event.stats if latest else None,
        )


def connected_frame(connection: Connection, *, recovered: bool, retry_ms: int) -> bytes:
    """The stream's first frame, carrying ``retry:``."""
    data = {
        "clientId": connection.client_id,
        "userId": connection.user_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "recovered": recovered,
    }
    payload = orjson.dumps(data).decode()
    return sse.encode_frame(payload, event="connected", retry_ms=retry_ms)


async def initial_frames(
    hand_over: HandOver,
    rules: ConnectionFrames,
    *,
    user_id: str,
    token: str,
    snapshots: SnapshotCache,
    metrics: RelayMetrics,
) -> bytes:
    """The replay and one ``stats``, or the snapshot (``stats`` + ``recent``)."""
    replay = hand_over.replay
    if replay.recovered:
        metrics.replays.labels(recovered="true").inc()
        metrics.replay_size.observe(len(replay.events))
        stats = hand_over.latest_stats
        return rules.replayed(replay.events) + (sse.stats_frame(stats) if stats else b"")
    if replay.reason != "no id":
        metrics.replays.labels(recovered="false").inc()
    metrics.not_recovered.labels(reason=replay.reason).inc()
    snapshot = await snapshots.get(user_id, token)
    stats = snapshot.stats or hand_over.latest_stats
    if snapshot.recent is not None:
        rules.listed_in_recent(snapshot.recent_ids)
    return (sse.stats_frame(stats) if stats else b"") + snapshot.recent_frame

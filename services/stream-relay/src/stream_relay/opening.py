"""The frames a stream opens with, and the hand-over they rest on (DESIGN §5 "Order on connect").

Guarantees:
- :meth:`HandOver.take` runs in one synchronous step, right after the
  connection was registered for live events: the replay, the horizon (the
  index's last offset) and the user's latest indexed ``stats`` all describe
  the same moment, so every event is either covered here (at or below the
  horizon) or queued on the connection (above it);
- :func:`connected_frame` is the first frame: ``retry:`` and ``connected
  {clientId, userId, timestamp, recovered}``;
- :func:`replayed_frames` or :func:`snapshot_frames` follow it: recovered,
  every missed event of the user in order, then one ``stats`` (no API call);
  not recovered, ``stats`` (the API's, else the latest indexed) and ``recent``
  (when the API answered), whose notifications the connection's frame rules
  then skip live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from stream_relay import sse
from stream_relay.fanout import Connection
from stream_relay.frames import ConnectionFrames
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import Replay, ReplayIndex
from stream_relay.snapshot import Snapshot

__all__ = ["HandOver", "connected_frame", "replayed_frames", "snapshot_frames"]


@dataclass(frozen=True, slots=True)
class HandOver:
    """What a new connection is owed before its live events."""

    replay: Replay
    horizon: int  # every event at or below it is covered by the replay or the snapshot
    latest_stats: bytes  # the user's newest indexed ``stats`` frame (empty: none indexed)

    @classmethod
    def take(cls, index: ReplayIndex, user_id: str, last_event_id: str | None) -> HandOver:
        """The replay for ``last_event_id`` and the horizon, now (no await).

        The latest ``stats`` are the frame the index already encoded for that event
        (no decoding per stream)."""
        latest = index.latest(user_id)
        return cls(
            replay=index.since(user_id, last_event_id),
            horizon=-1 if index.last_offset is None else index.last_offset,
            latest_stats=latest.stats_frame if latest else b"",
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


def replayed_frames(
    hand_over: HandOver, rules: ConnectionFrames, metrics: RelayMetrics
) -> bytes | None:
    """Recovered: every missed event of the user in order, then one ``stats`` (no API
    call). ``None`` when the stream is not recovered and opens with a snapshot."""
    replay = hand_over.replay
    if replay.recovered:
        metrics.replays.labels(recovered="true").inc()
        metrics.replay_size.observe(len(replay.events))
        return rules.replayed(replay.events) + hand_over.latest_stats
    if replay.reason != "no id":
        metrics.replays.labels(recovered="false").inc()
    metrics.not_recovered.labels(reason=replay.reason).inc()
    return None


def snapshot_frames(hand_over: HandOver, rules: ConnectionFrames, snapshot: Snapshot) -> bytes:
    """``stats`` (the API's, else the latest indexed) and ``recent`` (when the API
    answered), whose notifications the frame rules then skip live."""
    if snapshot.recent is not None:
        rules.listed_in_recent(snapshot.recent_ids)
    return (snapshot.stats_frame or hand_over.latest_stats) + snapshot.recent_frame

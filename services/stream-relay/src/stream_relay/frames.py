"""What one connection gets of an event: its frame rules (DESIGN §5).

A connection was registered for live events *before* its replay or snapshot
was taken (:mod:`stream_relay.opening`), so an event may reach it twice: once
covered by the opening frames, once live. These rules drop the second copy.
For one connection, :meth:`ConnectionFrames.live` gives, per event:

- nothing for an event at or below the hand-over *horizon* (the index's last
  offset when the replay was taken: the replay or the API snapshot covers it);
- an id-only frame, then the event's ``stats``, for the creation of a
  notification already listed in the connection's ``recent`` frame: nothing is
  shown twice, the client's ``Last-Event-ID`` still advances (WHATWG keeps the
  id of a frame without data), so a reconnect replays from there instead of
  answering ``recovered: false``, and its counters follow the change as for
  any other live event (the ``recent`` may be newer than the ``stats`` it came
  with: the snapshot's or the latest indexed);
- nothing for an ``eventId`` already written to this connection (the last
  4096 of them: a republished duplicate the index did not catch);
- otherwise the event's frames: the event and its ``stats``.

:meth:`ConnectionFrames.replayed` applies the last rule to a replay and gives
the events without their ``stats`` (the session sends one ``stats`` after).
Pure: no I/O, no clock, no await; the bytes it returns are the ones the
fan-out encoded once for every connection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final
from uuid import UUID

from stream_relay import sse
from stream_relay.indexed_event import IndexedEvent, sse_id

__all__ = ["ConnectionFrames"]

_SEEN_LIMIT: Final = 4096


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


class ConnectionFrames:
    """One connection's frame rules (see the module docstring); ``delivered`` counts events."""

    __slots__ = ("_horizon", "_listed", "_seen", "delivered")

    def __init__(self, horizon: int) -> None:
        self._horizon = horizon
        self._listed: frozenset[UUID] = frozenset()
        self._seen: _SeenIds | None = None  # made on the first event: idle streams stay small
        self.delivered = 0

    def listed_in_recent(self, notification_ids: Iterable[UUID]) -> None:
        """The notifications the connection's ``recent`` frame listed."""
        self._listed = frozenset(notification_ids)

    def live(self, entry: IndexedEvent) -> bytes:
        """The frames of a live event for this connection (may be empty)."""
        if entry.offset <= self._horizon:
            return b""
        return self._frames(entry, live=True)

    def live_chunk(self, entries: Iterable[IndexedEvent]) -> bytes:
        """The frames of several live events, as one chunk (one write)."""
        return b"".join([self.live(entry) for entry in entries])

    def replayed(self, entries: Iterable[IndexedEvent]) -> bytes:
        """The frames of a replay, without ``stats`` (one follows the replay)."""
        return b"".join([self._frames(entry, live=False) for entry in entries])

    def _frames(self, entry: IndexedEvent, *, live: bool) -> bytes:
        if self._listed and entry.created_notification in self._listed:
            id_only = sse.encode_frame(id=sse_id(entry.offset, entry.event_id))
            return id_only + entry.stats_frame if live else id_only
        if self._seen is None:
            self._seen = _SeenIds(_SEEN_LIMIT)
        if not self._seen.add(entry.event_id):
            return b""
        self.delivered += 1
        return entry.live if live else entry.frame

"""The per-user replay index: recent events by stream offset, and SSE ids.

SSE ids are ``<offset>-<first 12 hex digits of eventId>``: the stream offset
orders them, the eventId prefix pins the epoch (a recreated stream reuses
offsets for other events, so an old id no longer matches). See ARCHITECTURE.md.

Guarantees:
- :meth:`ReplayIndex.since` answers ``recovered=True`` only when every event of
  the user after the given id is in the index, and then returns them all, in
  offset order;
- each user's log holds each ``eventId`` once: a republished duplicate is
  refused by :meth:`ReplayIndex.append`;
- memory is bounded per user by count and by age.
"""

from __future__ import annotations

import bisect
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from qahub_contracts.events import DomainEvent, NotificationCreated
from stream_relay.sse import domain_event_frame, stats_frame

__all__ = ["IndexedEvent", "Replay", "ReplayIndex", "parse_sse_id", "sse_id"]

_SSE_ID = re.compile(r"^(0|[1-9][0-9]{0,18})-([0-9a-f]{12})$")
_SWEEP_EVERY: Final = 1024


def sse_id(offset: int, event_id: UUID) -> str:
    """The SSE id of the event at ``offset``; opaque to clients, no CR/LF/NUL."""
    return f"{offset}-{event_id.hex[:12]}"


def parse_sse_id(value: str) -> tuple[int, str] | None:
    """``(offset, eventId prefix)`` of an id this relay made, else ``None``."""
    match = _SSE_ID.match(value)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """One event of the log, with its SSE frames encoded once for every reader.

    ``frame`` is the event itself (replay sends those, then one ``stats``);
    ``live`` is the event followed by its ``stats`` frame (live delivery).
    """

    offset: int
    event: DomainEvent
    happened_at: float
    frame: bytes
    live: bytes

    @property
    def event_id(self) -> UUID:
        return self.event.event_id

    @property
    def created_notification(self) -> UUID | None:
        """The id of the notification this event created, if it is a creation."""
        if isinstance(self.event, NotificationCreated):
            return self.event.notification.id
        return None


@dataclass(frozen=True, slots=True)
class Replay:
    """The answer to a reconnect: what the client missed, or that it must refetch."""

    recovered: bool
    events: tuple[IndexedEvent, ...] = ()
    reason: str = "ok"


@dataclass(slots=True)
class _UserLog:
    events: deque[IndexedEvent] = field(default_factory=deque)
    event_ids: set[UUID] = field(default_factory=set)

    def drop_oldest(self) -> None:
        self.event_ids.discard(self.events.popleft().event_id)


class ReplayIndex:
    """Recent events of every user, in stream-offset order."""

    def __init__(
        self,
        *,
        max_per_user: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_per_user = max_per_user
        self._max_age = max_age_seconds
        self._clock = clock
        self._users: dict[str, _UserLog] = {}
        self._appends = 0
        self.last_offset: int | None = None

    def __len__(self) -> int:
        return sum(len(log.events) for log in self._users.values())

    @property
    def users(self) -> int:
        return len(self._users)

    def append(self, offset: int, event: DomainEvent) -> IndexedEvent | None:
        """Index the event at ``offset``; ``None`` when the user already has its eventId.

        Offsets must increase; an offset at or below the last one is ignored
        (``None``), so a redelivery after a reconnect is never indexed twice.
        """
        if self.last_offset is not None and offset <= self.last_offset:
            return None
        self.last_offset = offset
        log = self._users.setdefault(event.user_id, _UserLog())
        if event.event_id in log.event_ids:
            return None
        # Age counts from when the event happened, not from when this relay read it,
        # so a restarted relay re-reading the stream keeps the same horizon.
        happened = min(event.occurred_at.timestamp(), self._clock())
        frame = domain_event_frame(sse_id(offset, event.event_id), event)
        entry = IndexedEvent(offset, event, happened, frame, frame + stats_frame(event.stats))
        log.events.append(entry)
        log.event_ids.add(entry.event_id)
        self._trim(event.user_id, log)
        self._appends += 1
        if self._appends % _SWEEP_EVERY == 0:
            self.sweep()
        return entry

    def since(self, user_id: str, last_event_id: str | None) -> Replay:
        """Every event of ``user_id`` after ``last_event_id``, or ``recovered=False``.

        Not recovered when the id is absent, does not parse, is not an event of
        this user still in the index (too old, evicted, another user's, or from
        another epoch: the eventId prefix differs).
        """
        if last_event_id is None:
            return Replay(recovered=False, reason="no id")
        parsed = parse_sse_id(last_event_id)
        if parsed is None:
            return Replay(recovered=False, reason="malformed")
        offset, prefix = parsed
        log = self._users.get(user_id)
        if log is None:
            return Replay(recovered=False, reason="unknown")
        self._trim(user_id, log)
        position = bisect.bisect_left(log.events, offset, key=lambda e: e.offset)
        if position == len(log.events) or log.events[position].offset != offset:
            return Replay(recovered=False, reason="unknown")
        if log.events[position].event_id.hex[:12] != prefix:
            return Replay(recovered=False, reason="other epoch")
        missed = tuple(log.events[i] for i in range(position + 1, len(log.events)))
        return Replay(recovered=True, events=missed)

    def latest(self, user_id: str) -> IndexedEvent | None:
        """The user's most recent indexed event (its ``stats`` are the newest known)."""
        log = self._users.get(user_id)
        return log.events[-1] if log and log.events else None

    def clear(self) -> None:
        """Forget everything (a gap or a new epoch): old ids no longer recover."""
        self._users.clear()
        self.last_offset = None

    def sweep(self) -> None:
        """Drop expired events of every user, and users left with none."""
        for user_id, log in list(self._users.items()):
            self._trim(user_id, log)

    def _trim(self, user_id: str, log: _UserLog) -> None:
        horizon = self._clock() - self._max_age
        while log.events and (
            len(log.events) > self._max_per_user or log.events[0].happened_at < horizon
        ):
            log.drop_oldest()
        if not log.events:
            del self._users[user_id]

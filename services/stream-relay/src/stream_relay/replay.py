"""The per-user replay index: each user's recent events, by stream offset.

Guarantees:
- :meth:`ReplayIndex.since` answers ``recovered=True`` only when every event of
  the user after the given SSE id is in the index, and then returns them all,
  in offset order, each validated (an entry that fails validation is reported
  to ``on_invalid`` and skipped: it could never have been delivered);
- each user's log holds each ``eventId`` once: a republished duplicate is
  refused by :meth:`ReplayIndex.add`, and so is an offset at or below the last
  one (a redelivery);
- memory is bounded per user by count and by age (from ``occurredAt``);
  eviction is always from the oldest end, so a found id means the rest is
  complete.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from stream_relay.indexed_event import IndexedEvent, Unusable, parse_sse_id

__all__ = ["Replay", "ReplayIndex"]

_SWEEP_SECONDS: Final = 10.0  # every user's expired events, at most this often


@dataclass(frozen=True, slots=True)
class Replay:
    """The answer to a reconnect: what the client missed, or that it must refetch."""

    recovered: bool
    events: tuple[IndexedEvent, ...] = ()
    reason: str = "ok"


@dataclass(slots=True)
class _UserLog:
    user_id: str  # one string per user, shared by its entries
    events: deque[IndexedEvent] = field(default_factory=deque)
    keys: set[str] = field(default_factory=set)

    def drop_oldest(self) -> None:
        self.keys.discard(self.events.popleft().key)


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
        self._swept = clock()
        self.last_offset: int | None = None
        self.generation = 0
        """Changes whenever the index forgets everything (:meth:`clear`)."""
        self.on_invalid: Callable[[IndexedEvent, Unusable], None] | None = None
        """Told about an indexed entry found invalid when it was first used (then skipped)."""

    def __len__(self) -> int:
        return sum(len(log.events) for log in self._users.values())

    def add(self, entry: IndexedEvent) -> IndexedEvent | None:
        """Index ``entry``; ``None`` when its user already has its eventId.

        Offsets must increase; an offset at or below the last one is ignored
        (``None``), so a redelivery after a reconnect is never indexed twice.
        """
        offset = entry.offset
        if self.last_offset is not None and offset <= self.last_offset:
            return None
        self.last_offset = offset
        log = self._users.get(entry.user_id)
        if log is None:
            log = self._users[entry.user_id] = _UserLog(entry.user_id)
        elif entry.key in log.keys:
            return None
        entry.user_id = log.user_id
        # Age counts from when the event happened, not from when this relay read it,
        # so a restarted relay re-reading the stream keeps the same horizon.
        now = self._clock()
        entry.happened_at = min(entry.happened_at, now)
        log.events.append(entry)
        log.keys.add(entry.key)
        if len(log.events) > self._max_per_user or log.events[0].happened_at < now - self._max_age:
            self._trim(entry.user_id, log)
        if now - self._swept >= _SWEEP_SECONDS:
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
        if log.events[position].sse_id_prefix != prefix:
            return Replay(recovered=False, reason="other epoch")
        missed = [log.events[i] for i in range(position + 1, len(log.events))]
        return Replay(recovered=True, events=tuple(e for e in missed if self._usable(log, e)))

    def latest(self, user_id: str) -> IndexedEvent | None:
        """The user's most recent valid event (its ``stats`` are the newest known)."""
        log = self._users.get(user_id)
        while log is not None and log.events:
            if self._usable(log, log.events[-1]):
                return log.events[-1]
        return None

    def clear(self) -> None:
        """Forget everything (a gap or a new epoch): old ids no longer recover."""
        self._users.clear()
        self.last_offset = None
        self.generation += 1

    def sweep(self) -> None:
        """Drop expired events of every user, and users left with none.

        Timed, not counted: a sweep visits every user, so one per N appends
        would cost O(users) per N events while a long log is read.
        """
        self._swept = self._clock()
        for user_id, log in list(self._users.items()):
            self._trim(user_id, log)

    def _usable(self, log: _UserLog, entry: IndexedEvent) -> bool:
        """Validate and encode ``entry`` if needed; an invalid one is reported and removed."""
        try:
            entry.encode()
        except Unusable as exc:
            log.events.remove(entry)  # rare (a producer bug), so O(n) is fine
            log.keys.discard(entry.key)
            if self.on_invalid is not None:
                self.on_invalid(entry, exc)
            return False
        return True

    def _trim(self, user_id: str, log: _UserLog) -> None:
        horizon = self._clock() - self._max_age
        while log.events and (
            len(log.events) > self._max_per_user or log.events[0].happened_at < horizon
        ):
            log.drop_oldest()
        if not log.events:
            del self._users[user_id]

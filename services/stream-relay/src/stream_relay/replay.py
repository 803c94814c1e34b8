"""The per-user replay index: recent events by stream offset, and SSE ids.

SSE ids are ``<offset>-<first 12 hex digits of eventId>``: the stream offset
orders them, the eventId prefix pins the epoch (a recreated stream reuses
offsets for other events, so an old id no longer matches). See ARCHITECTURE.md.

Entries keep the message body as it came from the log; the event is validated
(pydantic) and its SSE frames encoded only when someone needs them (a replay,
a live fan-out), once per event, and the frames are cached (issue 5: start-up
over a long log indexes ~1M bodies). :meth:`IndexedEvent.from_body` reads just
what indexing needs (user, eventId, occurredAt) with orjson; a body it cannot
read that way goes through the full validation at once.

Guarantees:
- :meth:`ReplayIndex.since` answers ``recovered=True`` only when every event of
  the user after the given id is in the index, and then returns them all, in
  offset order, each validated (an entry that fails validation is reported to
  ``on_invalid`` and skipped: it could never have been delivered);
- each user's log holds each ``eventId`` once: a republished duplicate is
  refused by :meth:`ReplayIndex.add`;
- memory is bounded per user by count and by age; a decoded event is not kept
  (only its frames, once built).
"""

from __future__ import annotations

import bisect
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

import orjson
from pydantic import ValidationError

from qahub_contracts.events import (
    DomainEvent,
    NotificationCreated,
    decode_event,
    encode_event,
)
from qahub_contracts.topology import SCHEMA_VERSION, EventType
from stream_relay.sse import domain_event_frame, stats_frame

__all__ = ["IndexedEvent", "Replay", "ReplayIndex", "Unusable", "parse_sse_id", "sse_id"]

_SSE_ID = re.compile(r"^(0|[1-9][0-9]{0,18})-([0-9a-f]{12})$")
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EVENT_TYPES: Final = frozenset(EventType)
_SWEEP_SECONDS: Final = 10.0  # every user's expired events, at most this often


def sse_id(offset: int, event_id: UUID) -> str:
    """The SSE id of the event at ``offset``; opaque to clients, no CR/LF/NUL."""
    return f"{offset}-{event_id.hex[:12]}"


def parse_sse_id(value: str) -> tuple[int, str] | None:
    """``(offset, eventId prefix)`` of an id this relay made, else ``None``."""
    match = _SSE_ID.match(value)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


class Unusable(ValueError):
    """A log message that is not an event this relay understands; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _park_reason(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if isinstance(parsed, dict) and parsed.get("schemaVersion") != SCHEMA_VERSION:
        return "unknown_schema"
    return "invalid_event"


def _validated(body: bytes) -> DomainEvent:
    """The event in ``body`` (full validation), else :class:`Unusable`."""
    try:
        return decode_event(body)
    except ValidationError:
        raise Unusable(_park_reason(body)) from None


class IndexedEvent:
    """One event of the log: its body, and its SSE frames once someone needs them.

    ``frame`` is the event itself (replay sends those, then one ``stats``);
    ``live`` is the event followed by its ``stats`` frame (live delivery).
    Reading ``frame``, ``live``, ``event_id`` or ``created_notification`` the
    first time validates the body and encodes the frames (cached); ``event``
    decodes it (not cached: a decoded event is ~10x its body).
    """

    __slots__ = (
        "_created",
        "_event",
        "_event_id",
        "_frame_end",
        "_live",
        "body",
        "happened_at",
        "key",
        "offset",
        "user_id",
    )

    def __init__(
        self, offset: int, user_id: str, key: str, happened_at: float, body: bytes
    ) -> None:
        self.offset = offset
        self.user_id = user_id
        self.key = key  # the eventId, canonical text: de-duplication and the SSE id
        self.happened_at = happened_at
        self.body = body
        self._event: DomainEvent | None = None
        self._live: bytes | None = None  # the event's frame, then its stats frame
        self._frame_end = 0
        self._event_id: UUID | None = None
        self._created: UUID | None = None

    @classmethod
    def from_body(cls, offset: int, body: bytes) -> IndexedEvent:
        """Read what indexing needs from ``body``; full validation waits until it is used.

        Raises:
            Unusable: not JSON, an unknown ``schemaVersion``, or (for a body the
                quick read cannot take) not a valid event.
        """
        try:
            data = orjson.loads(body)
            user_id, key = data["userId"], data["eventId"]
            happened = datetime.fromisoformat(data["occurredAt"]).timestamp()
            quick = (
                data["schemaVersion"] == SCHEMA_VERSION
                and data["eventType"] in _EVENT_TYPES
                and isinstance(user_id, str)
                and _CANONICAL_UUID.match(key) is not None
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            quick = False
        if quick:
            return cls(offset, user_id, key, happened, body)
        # An odd but maybe valid body: the full validation now.
        return cls.from_event(offset, _validated(body), body)

    @classmethod
    def from_event(cls, offset: int, event: DomainEvent, body: bytes | None = None) -> IndexedEvent:
        """An entry for an already decoded event (``body``: its wire form, if at hand)."""
        happened = event.occurred_at.timestamp()
        body = encode_event(event) if body is None else body
        entry = cls(offset, event.user_id, str(event.event_id), happened, body)
        entry._event_id = event.event_id
        return entry

    @property
    def event(self) -> DomainEvent:
        """The decoded event (validated on every call unless it is being delivered)."""
        if self._event is not None:
            return self._event
        try:
            return decode_event(self.body)
        except ValidationError:
            raise Unusable(_park_reason(self.body)) from None

    @property
    def frame(self) -> bytes:
        return self.live[: self._frame_end]

    @property
    def live(self) -> bytes:
        """Built once: fan-out hands the same bytes to every connection."""
        return self._live if self._live is not None else self._encode()

    @property
    def event_id(self) -> UUID:
        if self._event_id is None:
            self._event_id = UUID(self.key)
        return self._event_id

    @property
    def created_notification(self) -> UUID | None:
        """The id of the notification this event created, if it is a creation."""
        if self._live is None:
            self._encode()
        return self._created

    @property
    def sse_id_prefix(self) -> str:
        """The eventId part of this entry's SSE id, without decoding the body."""
        return self.key[:8] + self.key[9:13]

    def hold(self) -> DomainEvent:
        """Validate now and keep the decoded event until :meth:`encode` (a live delivery).

        Raises:
            Unusable: the body is not a valid event.
        """
        self._event = self.event
        return self._event

    def release(self) -> None:
        """Forget a held decoded event (nobody is going to deliver it)."""
        self._event = None

    def encode(self) -> None:
        """Validate and encode the frames now (if not done yet); forget the decoded event.

        Raises:
            Unusable: the body is not a valid event.
        """
        if self._live is None:
            self._encode()

    def _encode(self) -> bytes:
        event = self.event
        self._event = None
        self._event_id = event.event_id
        if isinstance(event, NotificationCreated):
            self._created = event.notification.id
        frame = domain_event_frame(sse_id(self.offset, event.event_id), event)
        self._frame_end = len(frame)
        self._live = frame + stats_frame(event.stats)
        return self._live


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
        self.on_invalid: Callable[[IndexedEvent, Unusable], None] | None = None
        """Told about an indexed entry found invalid when it was first used (then skipped)."""

    def __len__(self) -> int:
        return sum(len(log.events) for log in self._users.values())

    @property
    def users(self) -> int:
        return len(self._users)

    def append(self, offset: int, event: DomainEvent) -> IndexedEvent | None:
        """Index an already decoded event (see :meth:`add`)."""
        return self.add(IndexedEvent.from_event(offset, event))

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

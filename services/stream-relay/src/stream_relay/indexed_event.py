"""One event of the log as the relay holds it: its body, its SSE id, its frames.

Ingest decodes a message once, and only as far as indexing needs:
:meth:`IndexedEvent.from_body` reads user, eventId and occurredAt with orjson
(a body it cannot read that way goes through the full validation at once).
The full pydantic validation and the SSE frames wait until someone needs them
(a replay, a live fan-out); the frames are then built once, cached, and the
same bytes go to every connection. A decoded event is not kept (it is many
times the size of its body), except while it is being delivered
(:meth:`IndexedEvent.hold`).

SSE ids are ``<offset>-<first 12 hex digits of eventId>``: the stream offset
orders them, the eventId prefix pins the epoch (a recreated stream reuses
offsets for other events, so an old id no longer matches). See ADR 1 in the
relay's ARCHITECTURE.md.

Guarantees:
- a message that is not an event this relay understands raises
  :class:`Unusable` with the reason it is parked for (``invalid_json``,
  ``unknown_schema``, ``invalid_event``), at the latest when first used;
- an SSE id never contains CR, LF or NUL.
"""

from __future__ import annotations

import re
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

__all__ = ["IndexedEvent", "Unusable", "parse_sse_id", "sse_id"]

_SSE_ID = re.compile(r"^(0|[1-9][0-9]{0,18})-([0-9a-f]{12})$")
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EVENT_TYPES: Final = frozenset(EventType)


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
    """A log message that is not an event this relay understands; ``reason`` says why.

    ``version`` is the ``schemaVersion`` of an ``unknown_schema`` message (as text,
    cut to 20 characters): a producer of a newer major version, logged once per version.
    """

    def __init__(self, reason: str, version: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.version = version


def _unusable(body: bytes) -> Unusable:
    """Why ``body`` (which failed validation) is parked."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Unusable("invalid_json")
    if isinstance(parsed, dict) and parsed.get("schemaVersion") != SCHEMA_VERSION:
        return Unusable("unknown_schema", repr(parsed.get("schemaVersion"))[:20])
    return Unusable("invalid_event")


def _validated(body: bytes) -> DomainEvent:
    """The event in ``body`` (full validation), else :class:`Unusable`."""
    try:
        return decode_event(body)
    except ValidationError:
        raise _unusable(body) from None


class IndexedEvent:
    """One event of the log: its body, and its SSE frames once someone needs them.

    ``frame`` is the event itself (replay sends those, then one ``stats``);
    ``live`` is the event followed by its ``stats`` frame (live delivery).
    Reading ``frame``, ``live``, ``event_id`` or ``created_notification`` the
    first time validates the body and encodes the frames (cached); ``event``
    decodes it (not cached: a decoded event is many times its body).
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
            raise _unusable(self.body) from None

    @property
    def frame(self) -> bytes:
        return self.live[: self._frame_end]

    @property
    def live(self) -> bytes:
        """Built once: fan-out hands the same bytes to every connection."""
        return self._live if self._live is not None else self._encode()

    @property
    def stats_frame(self) -> bytes:
        """The event's ``stats`` frame alone (what follows its own frame live)."""
        return self.live[self._frame_end :]

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
        # The notification and stats go out as the API wrote them (DESIGN §11).
        wire = orjson.loads(self.body)
        frame = domain_event_frame(sse_id(self.offset, event.event_id), event, wire)
        self._frame_end = len(frame)
        self._live = frame + stats_frame(event.stats, wire.get("stats"))
        return self._live

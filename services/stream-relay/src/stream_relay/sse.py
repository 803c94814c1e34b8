"""Server-Sent Events on the wire: WHATWG frames, heartbeats, ``Last-Event-ID``.

Guarantees:
- a frame's ``data`` is split on every line break (CRLF, LF, CR) into one
  ``data:`` line each, so no payload can end a frame or start a field early;
- ids and event names never contain CR, LF or NUL (:class:`ValueError` instead);
- every frame ends with one blank line;
- a notification (and its ``stats``) goes out as the API wrote it into the event
  when that is given (``wire``): a field a newer API added reaches the browser
  through this relay even though this release does not know it (DESIGN §11).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from qahub_contracts.api import DeletedNotification, Stats
from qahub_contracts.events import (
    DomainEvent,
    NotificationCreated,
    NotificationDeleted,
    NotificationUpdated,
)

__all__ = [
    "HEARTBEAT",
    "MAX_LAST_EVENT_ID_CHARS",
    "comment",
    "domain_event_frame",
    "encode_frame",
    "last_event_id",
    "stats_frame",
]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
MAX_LAST_EVENT_ID_CHARS: Final = 128

SSE_EVENT_NAMES: Final[dict[type[DomainEvent], str]] = {
    NotificationCreated: "notification",
    NotificationUpdated: "notification.updated",
    NotificationDeleted: "notification.deleted",
}


def _field(name: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise ValueError(f"an SSE {name} must not contain CR, LF or NUL")
    return f"{name}: {value}\n"


def encode_frame(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - the SSE field's name
    retry_ms: int | None = None,
) -> bytes:
    """One SSE frame (``retry``, ``id``, ``event``, then ``data`` lines), UTF-8.

    Raises:
        ValueError: ``id`` or ``event`` contains CR, LF or NUL.
    """
    parts: list[str] = []
    if retry_ms is not None:
        parts.append(f"retry: {int(retry_ms)}\n")
    if id is not None:
        parts.append(_field("id", id))
    if event is not None:
        parts.append(_field("event", event))
    if data is not None:
        parts.extend(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return ("".join(parts) + "\n").encode()


def comment(text: str) -> bytes:
    """A comment frame (``: text``), ignored by clients; keeps proxies from timing out."""
    return b"".join(f": {line}\n".encode() for line in _LINE_BREAK.split(text)) + b"\n"


HEARTBEAT: Final = comment("heartbeat")


def stats_frame(stats: Stats, wire: object = None) -> bytes:
    """The ``stats`` event: the user's counters, no id (``wire``: the object as written)."""
    if isinstance(wire, Mapping):
        return encode_frame(orjson.dumps(wire).decode(), event="stats")
    return encode_frame(stats.model_dump_json(by_alias=True), event="stats")


def domain_event_frame(
    sse_id: str, event: DomainEvent, wire: Mapping[str, Any] | None = None
) -> bytes:
    """The event's own frame, with ``sse_id`` (its ``stats`` go in a separate frame).

    ``wire`` is the event as the API wrote it (its JSON, parsed; ``event`` is its
    validated form): its ``notification`` object is sent as it is.
    """
    if isinstance(event, NotificationDeleted):
        data = DeletedNotification(id=event.notification_id).model_dump_json(by_alias=True)
    elif wire is not None and isinstance(wire.get("notification"), Mapping):
        data = orjson.dumps(wire["notification"]).decode()
    else:
        data = event.notification.model_dump_json(by_alias=True)
    name = SSE_EVENT_NAMES[type(event)]
    return encode_frame(data, event=name, id=sse_id)


def last_event_id(header: str | None, query: str | None) -> str | None:
    """The id a reconnecting client echoes: the header wins over ``?lastEventId=``.

    Returns ``None`` when neither is given (a first connect). A blank value is
    ``None`` too (the browser sends an empty header after an id-less stream);
    an overlong value is returned cut, so it can never match a real id.
    """
    value = header if header is not None and header.strip() else query
    if value is None or not value.strip():
        return None
    return value.strip()[: MAX_LAST_EVENT_ID_CHARS + 1]

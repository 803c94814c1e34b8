"""Broker topology and wire names: the only place they are spelled.

Both services import these constants; nothing else names an exchange, a queue,
a routing key or a shared header.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

__all__ = [
    "BINDING_KEY",
    "EVENT_LOG_QUEUE",
    "EXCHANGE",
    "IDEMPOTENCY_KEY_HEADER",
    "SCHEMA_VERSION",
    "STREAM_SEGMENT_BYTES",
    "EventType",
    "stream_arguments",
]

EXCHANGE: Final = "qahub.notifications"
"""Topic exchange every domain event is published to (routing key = event type)."""

EVENT_LOG_QUEUE: Final = "qahub.notifications.log"
"""Stream queue bound to :data:`EXCHANGE`: the short event log the relays read."""

BINDING_KEY: Final = "notification.#"
"""Binding of the event log to the exchange: every notification event."""

SCHEMA_VERSION: Final = 1
"""Version of the event schema this package produces and understands."""

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"

STREAM_SEGMENT_BYTES: Final = 8 * 1024 * 1024
"""Segment size of the event log. Retention only ever drops whole segments, so
the broker's 500 MB default would keep a short log far past ``x-max-age``
(DESIGN §8)."""


def stream_arguments(max_age: str, segment_bytes: int = STREAM_SEGMENT_BYTES) -> dict[str, Any]:
    """Queue arguments of the event log; every declarer must pass the same ones."""
    return {
        "x-queue-type": "stream",
        "x-max-age": max_age,
        "x-stream-max-segment-size-bytes": segment_bytes,
    }


class EventType(StrEnum):
    """Domain event types; each value is also the event's routing key."""

    CREATED = "notification.created"
    UPDATED = "notification.updated"
    DELETED = "notification.deleted"

"""Domain events published through the outbox and read by the relays (DESIGN §6).

Every event is a frozen model with ``eventId`` (for de-duplication),
``eventType`` (= routing key), ``schemaVersion``, ``occurredAt``, ``userId``,
its payload and the recipient's ``stats`` after the change.

Readers are tolerant (DESIGN §11): a field this release does not know, on the
event or inside its notification or stats, is ignored, so a newer API's events
still decode here. ``schemaVersion`` is the major version: one this release
does not know is refused, and the reader parks (relay) or dead-letters it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import ConfigDict, Field, TypeAdapter

from qahub_contracts._model import TolerantModel
from qahub_contracts.api import Notification, Stats
from qahub_contracts.topology import SCHEMA_VERSION, EventType

__all__ = [
    "DomainEvent",
    "NotificationCreated",
    "NotificationDeleted",
    "NotificationUpdated",
    "decode_event",
    "encode_event",
]


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(TolerantModel):
    # Every schema of an event (AsyncAPI, docs/schemas) describes what the producer
    # writes: eventId, eventType, schemaVersion and occurredAt always, so required.
    model_config = ConfigDict(
        json_schema_mode_override="serialization",
        json_schema_serialization_defaults_required=True,
    )

    event_id: UUID = Field(default_factory=uuid4)
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=_now)
    user_id: str
    stats: Stats


class NotificationCreated(_Event):
    """A notification was created for ``user_id``."""

    event_type: Literal[EventType.CREATED] = EventType.CREATED
    notification: Notification


class NotificationUpdated(_Event):
    """A notification's read state changed."""

    event_type: Literal[EventType.UPDATED] = EventType.UPDATED
    notification: Notification


class NotificationDeleted(_Event):
    """A notification was deleted (bulk deletes emit one event per id)."""

    event_type: Literal[EventType.DELETED] = EventType.DELETED
    notification_id: UUID


DomainEvent = Annotated[
    NotificationCreated | NotificationUpdated | NotificationDeleted,
    Field(discriminator="event_type"),
]
"""Any domain event, told apart by ``eventType``."""

_adapter: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent)


def encode_event(event: DomainEvent) -> bytes:
    """Serialise an event to its JSON wire form (camelCase)."""
    return event.model_dump_json(by_alias=True).encode()


def decode_event(body: bytes | str) -> DomainEvent:
    """Parse an event from its wire form.

    Raises:
        pydantic.ValidationError: the body is not JSON, not a known event type,
            lacks a field this release needs, or carries a ``schemaVersion``
            (major version) this package does not understand. Unknown fields
            are not an error.
    """
    return _adapter.validate_json(body)

"""Broker topology and wire names: the only place they are spelled.

Both services import these constants; nothing else names an exchange, a queue,
a routing key or a shared header.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

__all__ = [
    "AUTHORIZATION_HEADER",
    "BINDING_KEY",
    "COMMAND_CONTENT_TYPE",
    "COMMAND_DEAD_QUEUE",
    "COMMAND_DELIVERY_LIMIT",
    "COMMAND_DLX",
    "COMMAND_EXCHANGE",
    "COMMAND_QUEUE",
    "COMMAND_SCHEMA_VERSION",
    "CREATE_COMMAND_KEY",
    "ERROR_HEADER",
    "ERROR_MESSAGE_HEADER",
    "EVENT_LOG_QUEUE",
    "EXCHANGE",
    "IDEMPOTENCY_KEY_HEADER",
    "SCHEMA_VERSION",
    "STREAM_SEGMENT_BYTES",
    "EventType",
    "command_queue_arguments",
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


def stream_arguments(
    max_age: str, segment_bytes: int = STREAM_SEGMENT_BYTES, *, replicas: int = 1
) -> dict[str, Any]:
    """Queue arguments of the event log; every declarer must pass the same ones.

    ``replicas`` (``EVENT_LOG_REPLICAS``) above 1 becomes ``x-initial-cluster-size``.
    At 1 the argument is left out, so a stream declared by a release that never
    sent it stays equivalent (the broker refuses a redeclaration whose arguments
    differ). The replica count of an existing stream is changed with
    ``rabbitmq-streams add_replica``, not by declaring it again (docs/operations.md).
    """
    arguments: dict[str, Any] = {
        "x-queue-type": "stream",
        "x-max-age": max_age,
        "x-stream-max-segment-size-bytes": segment_bytes,
    }
    if replicas > 1:
        arguments["x-initial-cluster-size"] = replicas
    return arguments


COMMAND_EXCHANGE: Final = "qahub.notifications.commands"
"""Direct exchange services publish commands to (DESIGN §9)."""

CREATE_COMMAND_KEY: Final = "notification.create"
"""Routing key of :class:`~qahub_contracts.commands.CreateNotificationCommand`."""

COMMAND_QUEUE: Final = "qahub.notifications.commands"
"""Quorum queue the API consumes commands from, bound with :data:`CREATE_COMMAND_KEY`."""

COMMAND_DLX: Final = "qahub.notifications.commands.dlx"
"""Fanout exchange that takes the commands that can never succeed."""

COMMAND_DEAD_QUEUE: Final = "qahub.notifications.commands.dead"
"""Queue fed by :data:`COMMAND_DLX`: dead commands with their body and properties."""

COMMAND_DELIVERY_LIMIT: Final = 5
"""Deliveries after which a command that keeps crashing the consumer is dead-lettered."""

COMMAND_SCHEMA_VERSION: Final = 1
"""The command schema's major version this package produces and understands."""

COMMAND_CONTENT_TYPE: Final = "application/json"

AUTHORIZATION_HEADER: Final = "authorization"
"""Message header carrying ``Bearer <jwt>`` on a command (same tokens as REST)."""

ERROR_HEADER: Final = "x-qahub-error"
"""Header of a dead-lettered command: the error code (REST's codes)."""

ERROR_MESSAGE_HEADER: Final = "x-qahub-error-message"
"""Header of a dead-lettered command: the human-readable reason."""


def command_queue_arguments(delivery_limit: int = COMMAND_DELIVERY_LIMIT) -> dict[str, Any]:
    """Queue arguments of :data:`COMMAND_QUEUE`; every declarer must pass the same ones."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": COMMAND_DLX,
        "x-delivery-limit": delivery_limit,
    }


class EventType(StrEnum):
    """Domain event types; each value is also the event's routing key."""

    CREATED = "notification.created"
    UPDATED = "notification.updated"
    DELETED = "notification.deleted"

"""Typed contracts shared by notifications-api and stream-relay."""

from qahub_contracts.api import (
    BulkDelete,
    BulkRead,
    CreateNotification,
    DeletedCount,
    DeletedNotification,
    ErrorBody,
    ErrorDetail,
    MarkRead,
    Notification,
    NotificationPage,
    RecentNotifications,
    Stats,
    UpdatedCount,
)
from qahub_contracts.commands import (
    CommandFailed,
    CommandReply,
    CommandSucceeded,
    CreateNotificationCommand,
    decode_reply,
)
from qahub_contracts.events import (
    DomainEvent,
    NotificationCreated,
    NotificationDeleted,
    NotificationUpdated,
    decode_event,
    encode_event,
)
from qahub_contracts.topology import EVENT_LOG_QUEUE, EXCHANGE, EventType

__all__ = [
    "EVENT_LOG_QUEUE",
    "EXCHANGE",
    "BulkDelete",
    "BulkRead",
    "CommandFailed",
    "CommandReply",
    "CommandSucceeded",
    "CreateNotification",
    "CreateNotificationCommand",
    "DeletedCount",
    "DeletedNotification",
    "DomainEvent",
    "ErrorBody",
    "ErrorDetail",
    "EventType",
    "MarkRead",
    "Notification",
    "NotificationCreated",
    "NotificationDeleted",
    "NotificationPage",
    "NotificationUpdated",
    "RecentNotifications",
    "Stats",
    "UpdatedCount",
    "decode_event",
    "decode_reply",
    "encode_event",
]

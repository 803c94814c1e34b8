"""The notifications table as the use cases read it: columns, queries, wire form, counts.

A notification counts in its user's counters (:data:`~notifications_api.counters.Delta`)
unless it is archived: then it counts in none of them and is listed only under
``status=archived`` (DESIGN §13).
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

from sqlalchemy import Row, Select, select

from notifications_api.counters import Delta
from notifications_api.models import Notification, table_of
from qahub_contracts import api

__all__ = ["COLUMNS", "TABLE", "Status", "counted", "one", "owned", "wire"]

Status = Literal["all", "unread", "read", "archived"]

TABLE: Final = table_of(Notification)
COLUMNS: Final = (
    *(TABLE.c.seq, TABLE.c.id, TABLE.c.user_id, TABLE.c.type, TABLE.c.data),
    *(TABLE.c.read_at, TABLE.c.created_at, TABLE.c.seen_at, TABLE.c.archived_at),
)


def wire(row: Row[*tuple[Any, ...]]) -> api.Notification:
    """A row of :data:`COLUMNS` as the wire's notification."""
    return api.Notification(
        id=row.id,
        type=row.type,
        notifiable_id=row.user_id,
        data=row.data,
        read_at=row.read_at,
        created_at=row.created_at,
        seen_at=row.seen_at,
        archived_at=row.archived_at,
    )


def counted(notification: api.Notification) -> Delta:
    """What ``notification`` adds to its user's ``(total, unread, unseen)``."""
    if notification.archived_at is not None:
        return (0, 0, 0)
    return (1, int(notification.read_at is None), int(notification.seen_at is None))


def owned(user_id: str, status: Status) -> Select[Any]:
    """The user's notifications of one listing (archived ones only under ``archived``)."""
    query = select(*COLUMNS).where(TABLE.c.user_id == user_id)
    if status == "archived":
        return query.where(TABLE.c.archived_at.is_not(None))
    query = query.where(TABLE.c.archived_at.is_(None))
    if status == "unread":
        return query.where(TABLE.c.read_at.is_(None))
    if status == "read":
        return query.where(TABLE.c.read_at.is_not(None))
    return query


def one(user_id: str, notification_id: uuid.UUID) -> Select[Any]:
    """The user's notification ``notification_id`` (no row when it is another user's)."""
    return select(*COLUMNS).where(TABLE.c.user_id == user_id, TABLE.c.id == notification_id)

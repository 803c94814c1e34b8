"""Changes to existing notifications: read, seen, archived (DESIGN §13) and deletes.

Each function is ONE transaction on the :class:`~notifications_api.database.Writer`.
It takes the user's counter lock first (so the rows it reads stay as read until
it commits), writes the rows that actually change, adds to the user's counters
exactly what those rows counted before and count after
(:func:`~notifications_api.rows.counted`: archived ones count nowhere), and
enqueues one event per changed notification in the user's order, each carrying
the stats after the whole change. A request that changes nothing writes and
announces nothing.

Reading marks seen; marking unseen marks unread (read implies seen).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, select, update

from notifications_api import counters, outbox, rows
from notifications_api.errors import NotFound
from notifications_api.models import utcnow
from notifications_api.rows import TABLE
from qahub_contracts import api
from qahub_contracts.events import NotificationDeleted, NotificationUpdated

__all__ = ["apply", "archive", "delete_many", "mark_read", "mark_seen", "update_one"]

_READ = api.UpdateNotification(read=True)
_SEEN = api.UpdateNotification(seen=True)
_ARCHIVED = api.UpdateNotification(archived=True)

_SET_STATE = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("b_id"))
    .values(
        read_at=bindparam("b_read_at", type_=TABLE.c.read_at.type),
        seen_at=bindparam("b_seen_at", type_=TABLE.c.seen_at.type),
        archived_at=bindparam("b_archived_at", type_=TABLE.c.archived_at.type),
    )
)


def apply(
    notification: api.Notification, change: api.UpdateNotification, now: datetime
) -> api.Notification:
    """``notification`` after ``change`` (a state already set keeps its first time)."""
    read_at, seen_at, archived_at = (
        notification.read_at,
        notification.seen_at,
        notification.archived_at,
    )
    if change.seen is not None:
        seen_at = (seen_at or now) if change.seen else None
        read_at = read_at if change.seen else None
    if change.read is not None:
        read_at = (read_at or now) if change.read else None
        seen_at = (seen_at or now) if change.read else seen_at
    if change.archived is not None:
        archived_at = (archived_at or now) if change.archived else None
    return notification.model_copy(
        update={"read_at": read_at, "seen_at": seen_at, "archived_at": archived_at}
    )


def update_one(
    connection: Connection, user_id: str, notification_id: uuid.UUID, change: api.UpdateNotification
) -> api.Notification:
    """The user's notification after ``change``.

    Raises:
        NotFound: no such notification of this user.
    """
    counters.lock(connection, user_id)
    row = connection.execute(rows.one(user_id, notification_id)).first()
    if row is None:
        raise NotFound("notification not found")
    before = rows.wire(row)
    changed = _write(connection, user_id, [before], change)
    return changed[0] if changed else before


def mark_read(connection: Connection, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
    """Mark the named (or every listed) unread notification read; how many changed."""
    query = _named(user_id, ids) if ids is not None else rows.owned(user_id, "unread")
    return _update_many(connection, user_id, query.where(TABLE.c.read_at.is_(None)), _READ)


def mark_seen(connection: Connection, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
    """Mark the named (or every listed) unseen notification seen; how many changed."""
    query = _named(user_id, ids) if ids is not None else rows.owned(user_id, "all")
    return _update_many(connection, user_id, query.where(TABLE.c.seen_at.is_(None)), _SEEN)


def archive(connection: Connection, user_id: str, ids: Sequence[uuid.UUID]) -> int:
    """Archive the named notifications not archived yet; how many changed."""
    query = _named(user_id, ids).where(TABLE.c.archived_at.is_(None))
    return _update_many(connection, user_id, query, _ARCHIVED)


def delete_many(connection: Connection, user_id: str, ids: Sequence[uuid.UUID]) -> int:
    """Delete the named notifications of this user; how many were deleted."""
    counters.lock(connection, user_id)
    query = delete(TABLE).where(TABLE.c.user_id == user_id, TABLE.c.id.in_(ids))
    found = connection.execute(query.returning(*rows.COLUMNS)).all()
    gone = [rows.wire(r) for r in sorted(found, key=lambda r: r.seq)]
    if not gone:
        return 0
    stats = counters.add(
        connection, {user_id: _sum(_minus((0, 0, 0), rows.counted(n)) for n in gone)}
    )[user_id]
    outbox.enqueue(
        connection,
        [NotificationDeleted(user_id=user_id, stats=stats, notification_id=n.id) for n in gone],
    )
    return len(gone)


def _named(user_id: str, ids: Sequence[uuid.UUID]) -> Select[Any]:
    """The user's notifications among ``ids``, archived or not."""
    return select(*rows.COLUMNS).where(TABLE.c.user_id == user_id, TABLE.c.id.in_(ids))


def _update_many(
    connection: Connection, user_id: str, query: Select[Any], change: api.UpdateNotification
) -> int:
    counters.lock(connection, user_id)
    found = [rows.wire(r) for r in connection.execute(query.order_by(TABLE.c.seq))]
    return len(_write(connection, user_id, found, change))


def _write(
    connection: Connection,
    user_id: str,
    before: list[api.Notification],
    change: api.UpdateNotification,
) -> list[api.Notification]:
    """Write the rows ``change`` alters, their counters and events; the altered ones."""
    now = utcnow()
    pairs = [(old, apply(old, change, now)) for old in before]
    pairs = [(old, new) for old, new in pairs if new != old]
    if not pairs:
        return []
    connection.execute(
        _SET_STATE,
        [
            {"b_id": n.id, "b_read_at": n.read_at, "b_seen_at": n.seen_at}
            | {"b_archived_at": n.archived_at}
            for _, n in pairs
        ],
    )
    delta = _sum(_minus(rows.counted(new), rows.counted(old)) for old, new in pairs)
    stats = counters.add(connection, {user_id: delta})[user_id]
    events = [NotificationUpdated(user_id=user_id, stats=stats, notification=n) for _, n in pairs]
    outbox.enqueue(connection, events)
    return [new for _, new in pairs]


def _minus(a: counters.Delta, b: counters.Delta) -> counters.Delta:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _sum(deltas: Iterable[counters.Delta]) -> counters.Delta:
    total, unread, unseen = 0, 0, 0
    for t, r, s in deltas:
        total, unread, unseen = total + t, unread + r, unseen + s
    return (total, unread, unseen)

"""The transactional outbox table: events committed with their change, published after.

A write transaction calls :func:`enqueue` with the events of its change, so an
event exists exactly when its change committed (DESIGN §6). The dispatcher
(:mod:`notifications_api.dispatcher`) reads :func:`pending` rows, publishes
them and removes each with :func:`remove` only after the broker's confirm: a
crash between commit and publish loses nothing; a crash between confirm and
delete publishes again (consumers dedupe by ``eventId``).

Writes (``enqueue``, ``remove``, ``count_attempts``) run in a transaction of
the :class:`~notifications_api.database.Writer`; reads take an async session.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications_api.models import OutboxEvent, table_of, utcnow
from qahub_contracts.events import DomainEvent, encode_event

__all__ = [
    "OutboxLag",
    "Pending",
    "count_attempts",
    "enqueue",
    "lag",
    "pending",
    "remove",
    "since_commit",
]

_PENDING_COLUMNS: Final = (
    OutboxEvent.id,
    OutboxEvent.user_id,
    OutboxEvent.routing_key,
    OutboxEvent.body,
    OutboxEvent.event_id,
    OutboxEvent.created_at,
)
Pending = Row[int, str, str, bytes, uuid.UUID, datetime]
"""A pending row as plain columns: no ORM identity map or instance state per row."""


def enqueue(connection: Connection, events: Sequence[DomainEvent]) -> None:
    """Add ``events`` to the connection's transaction, in order (one multi-row insert)."""
    if not events:
        return
    now = utcnow()
    rows = [
        {
            "event_id": event.event_id,
            "user_id": event.user_id,
            "routing_key": event.event_type.value,
            "body": encode_event(event),
            "created_at": now,
            "attempts": 0,
        }
        for event in events
    ]
    connection.execute(insert(table_of(OutboxEvent)), rows)


async def pending(session: AsyncSession, limit: int, skip: Collection[int]) -> list[Pending]:
    """The oldest ``limit`` pending rows by id, leaving out the ids in ``skip``.

    No high-water mark: a lower id that commits late is found by a later call
    (DESIGN §8).
    """
    query = select(*_PENDING_COLUMNS).order_by(OutboxEvent.id).limit(limit + len(skip))
    rows = (await session.execute(query)).all()
    return [row for row in rows if row.id not in skip][:limit]


def remove(connection: Connection, ids: Collection[int]) -> None:
    """Remove confirmed rows."""
    connection.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))


def count_attempts(connection: Connection, ids: Collection[int]) -> None:
    """Count one more failed publish of each row (they stay pending)."""
    connection.execute(
        update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(attempts=OutboxEvent.attempts + 1)
    )


@dataclass(frozen=True)
class OutboxLag:
    """How far the outbox is behind: pending rows and the oldest one's age."""

    pending: int
    oldest_seconds: float


async def lag(sessions: async_sessionmaker[AsyncSession]) -> OutboxLag:
    """Pending rows and the age of the oldest (what ``/readyz`` reports)."""
    async with sessions() as session:
        row = (await session.execute(select(func.count(), func.min(OutboxEvent.created_at)))).one()
    oldest = since_commit(row[1]) if row[1] else 0.0
    return OutboxLag(pending=int(row[0]), oldest_seconds=max(oldest, 0.0))


def since_commit(created_at: datetime) -> float:
    """Seconds since a row was written (SQLite hands back naive UTC datetimes)."""
    aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return (utcnow() - aware).total_seconds()

"""Per-user counters, changed under the row lock inside each write transaction."""

from __future__ import annotations

import functools

from sqlalchemy import Connection, Row, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from notifications_api.models import UserCounter, table_of
from qahub_contracts.api import Stats

__all__ = ["add_created", "adjust", "lock", "read_stats"]


async def adjust(session: AsyncSession, user_id: str, *, total: int, unread: int) -> Stats:
    """Add ``total``/``unread`` to the user's counters and return them after the change.

    One atomic upsert: concurrent writers for the same user queue on the row
    lock, so the counters stay exact and each caller sees its own result.
    """
    upsert = _upsert(session.get_bind().dialect.name)
    params = {"user_id": user_id, "total": total, "unread": unread}
    return _stats((await session.execute(upsert, params)).one())


def add_created(connection: Connection, counts: dict[str, int]) -> dict[str, Stats]:
    """Add ``counts[user]`` new unread notifications per user, in ONE statement.

    Synchronous: the group commit runs its whole transaction on a plain
    connection (see :mod:`notifications_api.group_commit`). Returns each user's
    counters after the change. Rows are written (and, on PostgreSQL, locked) in
    user-id order, so concurrent batches never deadlock.
    """
    if not counts:
        return {}
    params = [{"user_id": u, "total": n, "unread": n} for u, n in sorted(counts.items())]
    rows = connection.execute(_upsert(connection.dialect.name), params).all()
    return {row.user_id: _stats(row) for row in rows}


@functools.cache
def _upsert(dialect: str) -> ReturningInsert[str, int, int]:
    """``counters += (total, unread)`` per parameter set, returning the new counters.

    One constant statement: SQLAlchemy compiles it once, and runs many parameter
    sets as one multi-row statement ("insertmanyvalues").
    """
    table = table_of(UserCounter)
    values = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return values.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={
            "total": table.c.total + values.excluded.total,
            "unread": table.c.unread + values.excluded.unread,
        },
    ).returning(table.c.user_id, table.c.total, table.c.unread)


def _stats(row: Row[str, int, int]) -> Stats:
    return Stats(total=row.total, unread=row.unread, read=row.total - row.unread)


async def lock(session: AsyncSession, user_id: str) -> None:
    """Take the user's counter row lock for the rest of the transaction.

    Every write transaction of a user takes it first, so a user's writers run
    one after another (SQLite's ``BEGIN IMMEDIATE`` already serialises them).
    """
    await session.execute(
        select(UserCounter.user_id).where(UserCounter.user_id == user_id).with_for_update()
    )


async def read_stats(session: AsyncSession, user_id: str) -> Stats:
    """The user's counters (zeros for a user with no notifications yet)."""
    row = (
        await session.execute(
            select(UserCounter.total, UserCounter.unread).where(UserCounter.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        return Stats(total=0, unread=0, read=0)
    return Stats(total=row.total, unread=row.unread, read=row.total - row.unread)

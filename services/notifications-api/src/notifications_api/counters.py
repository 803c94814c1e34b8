"""Per-user counters, changed under the row lock inside each write transaction.

Every function here runs inside a transaction of the :class:`~notifications_api.database.Writer`:
a user's counters are exact because each change is one atomic upsert taken
under the user's row lock, in the same transaction as the change it counts.
A change is a :data:`Delta` ``(total, unread, unseen)``; archived notifications
count in none of them (DESIGN §13).
"""

from __future__ import annotations

import functools
from typing import TypeAlias

from sqlalchemy import Connection, Row, Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningInsert

from notifications_api.models import UserCounter, table_of
from qahub_contracts.api import Stats

__all__ = ["Delta", "add", "lock", "stats_of", "to_stats"]

Delta: TypeAlias = tuple[int, int, int]
"""A change of one user's counters: ``(total, unread, unseen)``."""


def lock(connection: Connection, user_id: str) -> None:
    """Take the user's counter row lock for the rest of the transaction.

    Every write transaction of a user takes it first (creates through
    :func:`add`), so a user's writers run one after another and its outbox ids
    follow its commit order. SQLite's ``BEGIN IMMEDIATE`` already serialises them.
    """
    connection.execute(
        select(UserCounter.user_id).where(UserCounter.user_id == user_id).with_for_update()
    )


def add(connection: Connection, changes: dict[str, Delta]) -> dict[str, Stats]:
    """Add ``(total, unread, unseen)`` to each user's counters in ONE statement; the
    counters after.

    Rows are written (and, on PostgreSQL, locked) in user-id order, so
    concurrent transactions of several API processes never deadlock.
    """
    if not changes:
        return {}
    params = [
        {"user_id": user, "total": total, "unread": unread, "unseen": unseen}
        for user, (total, unread, unseen) in sorted(changes.items())
    ]
    rows = connection.execute(_upsert(connection.dialect.name), params).all()
    return {row.user_id: to_stats(row) for row in rows}


@functools.cache
def _upsert(dialect: str) -> ReturningInsert[str, int, int, int]:
    """``counters += (total, unread, unseen)`` per parameter set, returning the new counters.

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
            "unseen": table.c.unseen + values.excluded.unseen,
        },
    ).returning(table.c.user_id, table.c.total, table.c.unread, table.c.unseen)


def stats_of(user_id: str) -> Select[str, int, int, int]:
    """The query of a user's counters (no row for a user with no notifications yet)."""
    return select(
        UserCounter.user_id, UserCounter.total, UserCounter.unread, UserCounter.unseen
    ).where(UserCounter.user_id == user_id)


def to_stats(row: Row[str, int, int, int] | None) -> Stats:
    """A counters row (or none: zeros) as the wire's :class:`Stats`."""
    if row is None:
        return Stats(total=0, unread=0, read=0, unseen=0)
    return Stats(total=row.total, unread=row.unread, read=row.total - row.unread, unseen=row.unseen)

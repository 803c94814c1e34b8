"""Which API instance dispatches the outbox: one per database (DESIGN §6).

On PostgreSQL the leader holds a session-level advisory lock on a connection
of its own; losing that connection loses the lock, and :meth:`AdvisoryLock.hold`
then answers ``False`` until it is taken again (by this or another instance).
A user's events are published by one dispatcher at a time, in order.

SQLite has no such lock: one API process per database file, always the leader.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["AdvisoryLock", "Leadership", "SoleLeader", "leadership_for"]

log = logging.getLogger("notifications_api.leadership")

LOCK_KEY: Final = 0x51A4B0
"""The advisory lock's id: "the outbox dispatcher of this database"."""


class Leadership(Protocol):
    async def hold(self) -> bool:
        """``True`` while this instance may dispatch; takes the lead when it is free.

        Raises:
            Any database error: the lead is lost (call :meth:`release`).
        """
        ...

    async def release(self) -> None:
        """Give the lead up (never raises)."""
        ...


class SoleLeader:
    """The only dispatcher there can be (SQLite: one process per file)."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    """``pg_try_advisory_lock`` held on a dedicated connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def hold(self) -> bool:
        if self._connection is not None:
            await self._connection.execute(text("SELECT 1"))  # the lock lives with it
            return True
        connection = await self._engine.connect()
        try:
            got = await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        log.info("this instance now dispatches the outbox")
        self._connection = connection
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing drops the lock either way
                await connection.close()


def leadership_for(engine: AsyncEngine) -> Leadership:
    """An advisory lock on PostgreSQL; the sole leader elsewhere."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return SoleLeader()

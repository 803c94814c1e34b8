"""Alembic migrations of the API's schema, applied in code (no alembic.ini needed).

Several API processes starting at once on one PostgreSQL database apply them
once (DESIGN §11): each migrates inside a transaction that first takes the
advisory lock :data:`MIGRATION_LOCK_KEY`; the others wait for it, then find the
schema at head and have nothing to do. (SQLite serializes writers itself.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["MIGRATION_LOCK_KEY", "alembic_config", "upgrade"]

log = logging.getLogger("notifications_api.migrations")

_HERE = Path(__file__).parent
MIGRATION_LOCK_KEY: Final = 0x51A4B1
"""PostgreSQL advisory lock held (per transaction) while migrating; the outbox's is 0x51A4B0."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at these scripts (and a live connection)."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction, one process at a time."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await _take_lock(connection)
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def _take_lock(connection: AsyncConnection) -> None:
    """The migration lock, until the transaction ends (waiting for another process's)."""
    key = {"key": MIGRATION_LOCK_KEY}
    if await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), key):
        return
    log.info("another process is migrating this database; waiting for it to finish")
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)

"""Engine and sessions: one engine per lifespan, never shared across event loops."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["create_engine", "create_read_engine", "create_sessionmaker", "is_postgres"]


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:  # noqa: ANN401 - engine options
    """Create the async engine for ``url``.

    On SQLite every transaction starts with ``BEGIN IMMEDIATE`` so that
    concurrent writers queue on the database lock (with a busy timeout)
    instead of failing when a read transaction upgrades to a write; WAL lets
    readers of other processes go on meanwhile.
    """
    if not url.startswith("sqlite"):
        # No pre-ping (a round trip per checkout): a dead connection fails its
        # request once with 503 and is invalidated, and the pool reconnects.
        return create_async_engine(url, pool_size=10, max_overflow=20, **kwargs)
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30, **kwargs)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_read_engine(url: str, engine: AsyncEngine) -> AsyncEngine:
    """An engine for lock-free reads beside ``engine`` (the outbox dispatcher's poll).

    On SQLite every transaction of ``engine`` takes the write lock (``BEGIN
    IMMEDIATE``) on its one connection, so a read there waits for the writer.
    This second connection runs plain statements without that hook: with WAL a
    reader sees the last commit and never waits. Elsewhere it is ``engine``.
    An in-memory SQLite database cannot be shared by two connections: same engine.
    """
    if not url.startswith("sqlite") or ":memory:" in url or "mode=memory" in url:
        return engine
    reader = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)
    event.listen(reader.sync_engine, "connect", _sqlite_connect)
    return reader


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - driver type
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:  # noqa: ANN401 - sqlalchemy Connection
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"

"""Engine and sessions: one engine per lifespan, never shared across event loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")

__all__ = [
    "EngineWriter",
    "SqliteWriter",
    "Writer",
    "create_engine",
    "create_read_engine",
    "create_sessionmaker",
    "create_writer",
    "is_postgres",
]


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
    if not _is_sqlite_file(url):
        return engine
    reader = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)
    event.listen(reader.sync_engine, "connect", _sqlite_connect)
    return reader


class Writer(Protocol):
    """Where the API's writes run: ``work`` in one transaction on a plain connection."""

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work``'s result, committed; or its error, rolled back."""
        ...

    def close(self) -> None:
        """Release what the writer holds of its own (blocking: call from a thread)."""
        ...


class EngineWriter:
    """:class:`Writer` through the async engine: ``work`` runs with ``run_sync``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    def close(self) -> None:
        """Nothing of its own: the engine's owner disposes of it."""


class SqliteWriter:
    """One synchronous connection to the SQLite file, used from one dedicated thread.

    Through aiosqlite every statement costs several thread hops (cursor,
    execute, fetch, close) plus the async adaptation: ≈ 4.7 ms of CPU for a
    one-create transaction here, against ≈ 1.3 ms for the same SQLAlchemy Core
    statements run in one hop on a plain ``sqlite3`` connection. The group
    commit and the outbox's deletes share it, so they never contend for
    SQLite's file lock (whose busy handler sleeps 1 ms and more).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction on the writer thread; its result or its error."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as connection:
            return work(connection)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.engine.dispose()


def create_writer(url: str, engine: AsyncEngine) -> Writer:
    """The :class:`Writer` for ``url``: a :class:`SqliteWriter` for a SQLite file
    (same pragmas and ``BEGIN IMMEDIATE`` as :func:`create_engine`, so its writes
    and the async engine's queue on SQLite's lock), else ``engine``'s."""
    if not _is_sqlite_file(url):
        return EngineWriter(engine)
    file_engine = sa_create_engine(
        make_url(url).set(drivername="sqlite"),
        pool_size=1,
        max_overflow=0,
        pool_timeout=30,
        # Created and used on the writer thread; disposed from the event loop's.
        connect_args={"check_same_thread": False},
    )
    event.listen(file_engine, "connect", _sqlite_connect)
    event.listen(file_engine, "begin", _sqlite_begin)
    return SqliteWriter(file_engine)


def _is_sqlite_file(url: str) -> bool:
    """A SQLite database in a file: several connections may share it (not in-memory)."""
    return url.startswith("sqlite") and ":memory:" not in url and "mode=memory" not in url


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

"""Where the API's reads and writes run: one engine per lifespan, one writer.

:func:`open_database` gives the lifespan a :class:`Database`: an async engine
and sessions for reads, and the one :class:`Writer` every write transaction
runs on (creates, marks, deletes, the outbox's deletes). On a SQLite file the
writer is a single ``sqlite3`` connection on a thread of its own and reads use
a connection that never takes the write lock (WAL), so readers never wait for
the writer and there is exactly one writer connection. On PostgreSQL both use
the same async engine; writes run their synchronous work with ``run_sync``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    "Database",
    "EngineWriter",
    "SqliteWriter",
    "Writer",
    "create_engine",
    "open_database",
    "read_one_snapshot",
]


class Writer(Protocol):
    """Where the API's writes run: ``work`` in one transaction on a plain connection."""

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work``'s result, committed; or its error, rolled back and raised."""
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

    A whole transaction is one thread hop (aiosqlite costs several per
    statement), and being the only writer it never waits on SQLite's file lock
    (whose busy handler sleeps 1 ms and more). Transactions run one at a time,
    in submission order.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work)

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._engine.dispose()


@dataclass(frozen=True)
class Database:
    """Reads through ``sessions`` (or ``engine``); every write through ``writer``."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    writer: Writer

    async def close(self) -> None:
        await asyncio.to_thread(self.writer.close)
        await self.engine.dispose()


async def read_one_snapshot(session: AsyncSession) -> None:
    """Make every later statement of ``session`` read one snapshot of the database.

    Call it first, before any statement. Without it each statement sees the
    commits made before *it* (PostgreSQL's READ COMMITTED; SQLite's reader
    connection, in autocommit, starts a read transaction per statement), so
    two SELECTs may describe two different moments. On PostgreSQL the
    transaction becomes REPEATABLE READ, read only; on SQLite it is opened
    with a deferred ``BEGIN``, which takes the WAL snapshot at the first read
    and never the write lock. The session's end closes it (a rollback).
    """
    if session.get_bind().dialect.name == "sqlite":
        await (await session.connection()).exec_driver_sql("BEGIN")
    else:
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        await session.connection(execution_options=options)


def open_database(url: str) -> Database:
    """The engine, sessions and writer for ``url`` (nothing connects yet)."""
    if _is_sqlite_file(url):
        engine = create_async_engine(url, pool_size=2, max_overflow=0, pool_timeout=30)
        event.listen(engine.sync_engine, "connect", _sqlite_connect)  # no BEGIN IMMEDIATE
        writer: Writer = SqliteWriter(_sqlite_file_engine(url))
    else:
        engine = create_engine(url)
        writer = EngineWriter(engine)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), writer)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:  # noqa: ANN401 - engine options
    """An async engine that may write (migrations; PostgreSQL; in-memory SQLite).

    On SQLite every transaction starts with ``BEGIN IMMEDIATE`` so that
    concurrent writers queue on the database lock (with a busy timeout)
    instead of failing when a read transaction upgrades to a write.
    """
    if not url.startswith("sqlite"):
        # No pre-ping (a round trip per checkout): a dead connection fails its
        # request once with 503 and is invalidated, and the pool reconnects.
        return create_async_engine(url, pool_size=10, max_overflow=20, **kwargs)
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30, **kwargs)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_file_engine(url: str) -> Engine:
    """The writer's engine: plain ``sqlite3``, same pragmas, ``BEGIN IMMEDIATE``."""
    engine = sa_create_engine(
        make_url(url).set(drivername="sqlite"),
        pool_size=1,
        max_overflow=0,
        pool_timeout=30,
        # Created and used on the writer thread; disposed from the event loop's.
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


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

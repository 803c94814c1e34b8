"""The relay's own copy of the indexed events on local disk, for a fast restart.

Reading the retained event log back from RabbitMQ is slow (RabbitMQ 3.10
converts each stored message as it delivers it over AMQP 0.9.1), so a relay
restarting over a day's events needed minutes. With ``RELAY_STATE_DIR`` set,
the relay keeps every event it indexes in an SQLite database there (the
standard library's ``sqlite3``, WAL mode: the A/B against hand-written segment
files is docs/adr/0004); on start it rebuilds its index from it and resumes
the broker subscription at the last stored message, where the consumer's
continuity check (the same message at that offset, else everything is
re-read from ``first``) guards against a log that changed meanwhile.

Guarantees:
- events are stored in offset order; each :meth:`LocalLog.flush` (the
  consumer's 0.1 s tick) and :meth:`LocalLog.close` commits what was appended
  since, in one transaction handed to the OS (``synchronous=OFF``: a crash of
  the relay keeps every committed flush, a crash of the machine may lose the
  tail; the broker sends a lost tail again);
- a flush torn by a crash is dropped whole by SQLite's recovery; a database
  SQLite cannot read is deleted and the relay re-reads the log from the broker:
  never a gap;
- an event older than the log's max age is not loaded, and is deleted (at load,
  and from the oldest end as the relay runs), except the last one stored: it
  stays where the subscription resumes;
- one relay per directory (an exclusive ``flock``); a second relay pointed at
  the same directory runs without a local log (logged);
- the files hold users' notifications: the directory is created ``0700`` and
  every file ``0600``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stream_relay.indexed_event import IndexedEvent

__all__ = ["LocalLog", "Resume"]

log = logging.getLogger("stream_relay.local_log")

_DATABASE: Final = "index.sqlite3"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS events (stream_offset INTEGER PRIMARY KEY, happened REAL"
    " NOT NULL, user_id TEXT NOT NULL, event_key TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " body BLOB NOT NULL)"
)
_INSERT: Final = "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?)"
_EXPIRE: Final = (  # the oldest rows; never the last one: it is where to resume
    "DELETE FROM events WHERE stream_offset IN (SELECT stream_offset FROM events"
    " ORDER BY stream_offset LIMIT ?) AND happened < ?"
    " AND stream_offset < (SELECT max(stream_offset) FROM events)"
)
_EXPIRE_BATCH: Final = 10_000  # oldest rows looked at per expiry pass
_EXPIRE_EVERY: Final = 10.0  # seconds between two expiry passes
_YIELD_EVERY: Final = 20_000  # records loaded between two event-loop turns

_Row = tuple[int, float, str, str, str, bytes]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where the loaded copy ends: the broker subscription resumes at this message."""

    offset: int
    fingerprint: str
    events: int


class LocalLog:
    """The indexed events in one SQLite database (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_age_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = directory / _DATABASE
        self._max_age = max_age_seconds
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._pending: list[_Row] = []
        self._expired_at = 0.0
        self._lock: int | None = None

    @classmethod
    def open(cls, directory: Path, *, max_age_seconds: float) -> LocalLog | None:
        """The local log in ``directory`` (created), or ``None`` if another relay holds it.

        Raises:
            OSError: the directory cannot be created or opened.
        """
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # users' notifications
        lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            log.warning("%s is in use by another relay; running without a local log", directory)
            return None
        local = cls(directory, max_age_seconds=max_age_seconds)
        local._lock = lock
        return local

    async def load(self, add: Callable[[IndexedEvent], object]) -> Resume | None:
        """Hand every stored, unexpired event to ``add``, oldest first; where to resume.

        Yields to the event loop now and then, so a long load does not stall
        health checks. An unreadable database is deleted (``None``: read from
        ``first``).
        """
        try:
            return await self._load(add)
        except sqlite3.DatabaseError as exc:
            log.warning("%s unreadable (%s); deleted: the log is read again", self._path, exc)
            self._delete()
            return None

    def append(self, entry: IndexedEvent, fingerprint: str) -> None:
        """Add one indexed event (after every earlier one); stored at the next flush."""
        self._pending.append(
            (entry.offset, entry.happened_at, entry.user_id, entry.key, fingerprint, entry.body)
        )

    def flush(self) -> None:
        """Commit what was appended (it survives a crash of the relay); expire old events."""
        if not self._pending:
            return
        db = self._connection()
        with db:  # one transaction
            db.executemany(_INSERT, self._pending)
        self._pending = []
        now = self._clock()
        if now - self._expired_at >= _EXPIRE_EVERY:
            self._expired_at = now
            with db:
                db.execute(_EXPIRE, (_EXPIRE_BATCH, now - self._max_age))

    def reset(self) -> None:
        """Forget everything stored (the log had a gap or a new epoch)."""
        self._pending = []
        self._delete()

    def close(self) -> None:
        """Commit, close the database, release the directory."""
        with contextlib.suppress(sqlite3.Error):
            self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def _load(self, add: Callable[[IndexedEvent], object]) -> Resume | None:
        db = self._connection()
        last = db.execute(
            "SELECT stream_offset, fingerprint FROM events ORDER BY stream_offset DESC LIMIT 1"
        ).fetchone()
        if last is None:
            return None
        horizon = self._clock() - self._max_age
        while True:  # from the oldest end, a batch at a time: no scan of what stays
            with db:
                deleted = db.execute(_EXPIRE, (_EXPIRE_BATCH, horizon)).rowcount
            if deleted < _EXPIRE_BATCH:
                break
        rows = db.execute(
            "SELECT stream_offset, user_id, event_key, happened, body FROM events"
            " WHERE happened >= ? ORDER BY stream_offset",
            (horizon,),
        )
        events = 0
        for offset, user_id, key, happened, body in rows:
            add(IndexedEvent(offset, user_id, key, happened, body))
            events += 1
            if events % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        log.info("loaded %d events from %s (up to offset %d)", events, self._path, last[0])
        return Resume(last[0], last[1], events)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            # Created 0600 first: SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
            db = sqlite3.connect(self._path, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")
                db.execute(_SCHEMA)
            except sqlite3.Error:
                db.close()
                raise
            db.isolation_level = "DEFERRED"  # `with db` is one transaction
            self._db = db
        return self._db

    def _delete(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self._path.with_name(self._path.name + suffix).unlink()

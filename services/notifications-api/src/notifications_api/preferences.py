"""Per-user delivery preferences (DESIGN §13): stored, and looked up on every create.

A create asks :meth:`PreferenceStore.get` for its recipient's preferences, so
the lookup is cached in the process (users without a row included: they get
the defaults) and costs a create nothing most of the time. A ``PUT`` through
this process takes effect here at once; through another API process, here
within :data:`CACHE_SECONDS` (the cache entry's lifetime).

Misses are read in batches: every user missed while one read runs is read by
the next, in one ``SELECT ... WHERE user_id IN (...)`` on one connection. A
read per missed user made a cold start (or the moment many users' entries
expire together) hold one pooled connection per concurrent create: on
PostgreSQL that opened the pool's every connection, overflow included, and on
SQLite it queued the creates on the two reader connections while the writer
waited; see docs/performance.md, "Preference lookup".
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from typing import Final

from cachetools import TTLCache
from pydantic import ValidationError
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from notifications_api.database import Database
from notifications_api.models import Preference, table_of, utcnow
from qahub_contracts import api

__all__ = ["CACHE_SECONDS", "READ_USERS", "PreferenceStore"]

log = logging.getLogger("notifications_api.preferences")

CACHE_SECONDS: Final = 5.0
CACHE_USERS: Final = 100_000
READ_USERS: Final = 500  # users per read (SQLite allows 32,766 parameters)
_DEFAULTS: Final = api.Preferences()
_TABLE = table_of(Preference)


class PreferenceStore:
    """Reads (cached, batched) and replaces users' preferences."""

    def __init__(self, database: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self._sessions = database.sessions
        self._writer = database.writer
        self._cache: TTLCache[str, api.Preferences] = TTLCache(CACHE_USERS, cache_seconds)
        self._replaced = 0  # replaces so far: a read that overlapped one is not cached
        self._wanted: dict[str, asyncio.Future[api.Preferences]] = {}  # for the next read
        self._reading: dict[str, asyncio.Future[api.Preferences]] = {}  # in the running read
        self._reader: asyncio.Task[None] | None = None

    async def get(self, user_id: str) -> api.Preferences:
        """The user's preferences (the defaults when the user never set any).

        Concurrent misses share database reads: one at a time, each for every
        user missed since the previous one began (at most :data:`READ_USERS`).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the read failed (every waiter of it gets it).
        """
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        pending = self._reading.get(user_id) or self._wanted.get(user_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._wanted[user_id] = pending
            if self._reader is None:
                self._reader = asyncio.create_task(self._read_wanted(), name="preference-reads")
        return await asyncio.shield(pending)

    async def _read_wanted(self) -> None:
        """Read the wanted users' preferences, batch after batch, until none are wanted."""
        try:
            while self._wanted:
                users = list(itertools.islice(self._wanted, READ_USERS))
                self._reading = {user: self._wanted.pop(user) for user in users}
                await self._read_batch(self._reading)
                self._reading = {}
        finally:  # empty unless this task was cancelled: then so is every wait on it
            for pending in (*self._reading.values(), *self._wanted.values()):
                pending.cancel()
            self._reading, self._wanted, self._reader = {}, {}, None

    async def _read_batch(self, batch: dict[str, asyncio.Future[api.Preferences]]) -> None:
        replaced = self._replaced
        query = select(_TABLE.c.user_id, _TABLE.c.document).where(_TABLE.c.user_id.in_(list(batch)))
        try:
            async with self._sessions() as session:
                found_rows = (await session.execute(query)).all()
        except Exception as error:  # noqa: BLE001 - handed to every waiter, raised there
            for pending in batch.values():
                pending.set_exception(error)
            return
        documents = {row.user_id: row.document for row in found_rows}
        for user, pending in batch.items():
            found = _stored(user, documents.get(user))
            if replaced == self._replaced:
                self._cache[user] = found
            else:  # a PUT here overlapped the read: its answer, if it was this user's
                found = self._cache.get(user, found)
            pending.set_result(found)

    async def replace(self, user_id: str, new: api.ReplacePreferences) -> api.Preferences:
        """Store ``new`` as the user's whole preferences; them, as stored."""
        preferences = new.to_preferences()
        document = preferences.model_dump(mode="json")
        await self._writer.run(functools.partial(_upsert, user_id=user_id, document=document))
        self._replaced += 1
        self._cache[user_id] = preferences
        return preferences


def _stored(user_id: str, document: object) -> api.Preferences:
    """A user's stored preferences; the defaults when there are none, or when the stored
    document no longer validates (logged): one bad row must neither fail the other
    users read with it nor stop that user's notifications."""
    if document is None:
        return _DEFAULTS
    try:
        return api.Preferences.model_validate(document)
    except ValidationError as exc:
        log.error(  # noqa: TRY400 - one line; the document may hold anything
            "stored preferences of user %r do not validate (%d errors); using the defaults",
            user_id,
            exc.error_count(),
        )
        return _DEFAULTS


def _upsert(connection: Connection, user_id: str, document: dict[str, object]) -> None:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    values = {"user_id": user_id, "document": document, "updated_at": utcnow()}
    statement = insert(_TABLE).values(values)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.user_id],
            set_={
                "document": statement.excluded.document,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )

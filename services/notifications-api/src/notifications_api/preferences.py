"""Per-user delivery preferences (DESIGN §13): stored, and looked up on every create.

A create asks :meth:`PreferenceStore.get` for its recipient's preferences, so
the lookup is cached in the process (users without a row included: they get
the defaults) and costs a create nothing most of the time. A ``PUT`` through
this process takes effect here at once; through another API process, here
within :data:`CACHE_SECONDS` (the cache entry's lifetime).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Final

from cachetools import TTLCache
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from notifications_api.database import Database
from notifications_api.models import Preference, table_of, utcnow
from qahub_contracts import api

__all__ = ["CACHE_SECONDS", "PreferenceStore"]

CACHE_SECONDS: Final = 5.0
CACHE_USERS: Final = 100_000
_DEFAULTS: Final = api.Preferences()
_TABLE = table_of(Preference)


class PreferenceStore:
    """Reads (cached) and replaces users' preferences."""

    def __init__(self, database: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self._sessions = database.sessions
        self._writer = database.writer
        self._cache: TTLCache[str, api.Preferences] = TTLCache(CACHE_USERS, cache_seconds)
        self._replaced = 0  # replaces so far: a read that overlapped one is not cached
        self._loading: dict[str, asyncio.Future[api.Preferences]] = {}

    async def get(self, user_id: str) -> api.Preferences:
        """The user's preferences (the defaults when the user never set any).

        Concurrent misses for one user share one database read.
        """
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        loading = self._loading.get(user_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(user_id))
            self._loading[user_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(user_id, None))
        return await asyncio.shield(loading)

    async def _load(self, user_id: str) -> api.Preferences:
        replaced = self._replaced
        query = select(_TABLE.c.document).where(_TABLE.c.user_id == user_id)
        async with self._sessions() as session:
            document = (await session.execute(query)).scalar_one_or_none()
        found = _DEFAULTS if document is None else api.Preferences.model_validate(document)
        if replaced == self._replaced:
            self._cache[user_id] = found
        return found

    async def replace(self, user_id: str, new: api.ReplacePreferences) -> api.Preferences:
        """Store ``new`` as the user's whole preferences; them, as stored."""
        preferences = new.to_preferences()
        document = preferences.model_dump(mode="json")
        await self._writer.run(functools.partial(_upsert, user_id=user_id, document=document))
        self._replaced += 1
        self._cache[user_id] = preferences
        return preferences


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

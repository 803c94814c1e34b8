"""PreferenceStore: what a create's lookup reads, and how fresh it is, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from tests.api.conftest import migrate

from notifications_api.database import Database, open_database
from notifications_api.models import Preference, table_of, utcnow
from notifications_api.preferences import PreferenceStore
from qahub_contracts import api

MUTED = api.ReplacePreferences.model_validate({"types": {"digest": {"inApp": False}}})


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await migrate(database_url)
    database = open_database(database_url)
    try:
        yield database
    finally:
        await database.close()


def _count_preference_reads(database: Database) -> list[str]:
    reads: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "notification_preferences" in statement:
            reads.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return reads


class TestBatchedReads:
    """Concurrent misses share reads: a cold start costs a create no connection of its own."""

    async def test_many_users_missed_at_once_are_read_together(self, database: Database):
        await PreferenceStore(database).replace("u7", MUTED)
        store = PreferenceStore(database)
        reads = _count_preference_reads(database)
        users = [f"u{i}" for i in range(64)]
        found = await asyncio.gather(*(store.get(user) for user in users))
        assert [p.delivers("digest") for p in found] == [user != "u7" for user in users]
        assert 1 <= len(reads) <= 2, reads  # the first miss's read, then all the others'
        first = len(reads)
        await asyncio.gather(*(store.get(user) for user in users))
        assert len(reads) == first, "a cached user was read again"

    async def test_a_failed_read_fails_its_waiters_and_caches_nothing(self, database_url: str):
        database = open_database(database_url)  # no tables yet: every read fails
        try:
            store = PreferenceStore(database)
            results = await asyncio.gather(
                *(store.get(f"u{i}") for i in range(8)), return_exceptions=True
            )
            assert all(isinstance(r, SQLAlchemyError) for r in results), results
            await migrate(database_url)
            assert (await store.get("u1")) == api.Preferences()
        finally:
            await database.close()

    async def test_a_stored_document_that_no_longer_validates_is_read_as_the_defaults(
        self, database: Database
    ):
        """One bad row neither fails the users read with it nor stops its user's
        notifications (the store logs it and delivers everything)."""
        await PreferenceStore(database).replace("u1", MUTED)
        bad = {"types": {"digest": {"inApp": "maybe"}}}
        async with database.engine.begin() as connection:
            await connection.execute(
                table_of(Preference)
                .insert()
                .values(user_id="u2", document=bad, updated_at=utcnow())
            )
        store = PreferenceStore(database)
        one, two, three = await asyncio.gather(*(store.get(u) for u in ("u1", "u2", "u3")))
        assert not one.delivers("digest")
        assert two == api.Preferences()
        assert three == api.Preferences()


class TestFreshness:
    """A PUT takes effect at once in its own process, within the cache's lifetime in others."""

    async def test_a_put_elsewhere_applies_within_cache_seconds(self, database: Database):
        here, elsewhere = PreferenceStore(database, 0.5), PreferenceStore(database, 0.5)
        assert (await here.get("42")).delivers("digest")
        await elsewhere.replace("42", MUTED)
        assert not (await elsewhere.get("42")).delivers("digest")
        put_at = time.monotonic()
        while (await here.get("42")).delivers("digest"):
            assert time.monotonic() - put_at < 0.5 + 2, "the PUT never reached this process"
            await asyncio.sleep(0.05)

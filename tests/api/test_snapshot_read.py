"""``/snapshot`` reads ``stats`` and ``recent`` from one moment, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event, text
from tests.api.conftest import Api

from notifications_api.database import create_engine, open_database
from notifications_api.notifications import Notifications
from notifications_api.preferences import PreferenceStore


async def _delete_all(database_url: str, user: str) -> None:
    """Another connection's committed change (a delete, as the API makes one)."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            delete = text("DELETE FROM notifications WHERE user_id = :user")
            await connection.execute(delete, {"user": user})
    finally:
        await engine.dispose()


class TestOneMoment:
    async def test_a_change_between_the_two_reads_shows_in_neither(self, api: Api):
        """A page got "3 unread" next to an empty list when a change committed between
        the counters' SELECT and the list's: each read its own moment."""
        for i in range(3):
            await api.create("42", f"n{i}")
        url = api.settings.database_url
        database = open_database(url)
        changed: list[str] = []

        def change_before_the_list(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if "FROM notifications" in statement and not changed:
                changed.append(statement)
                with ThreadPoolExecutor(1) as other:  # its own loop and connection, now
                    other.submit(asyncio.run, _delete_all(url, "42")).result(timeout=30)

        event.listen(database.engine.sync_engine, "before_cursor_execute", change_before_the_list)
        try:
            notifications = Notifications(database, lambda: None, PreferenceStore(database))
            snapshot = await notifications.snapshot("42", 10)
            after = await notifications.snapshot("42", 10)
        finally:
            await database.close()
        assert changed, "the change was not made between the two reads"
        assert snapshot.stats.unread == len(snapshot.recent) == 3
        assert after.recent == []  # the change is there for the next snapshot

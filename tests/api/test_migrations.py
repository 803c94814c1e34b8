"""Migration 0002 upgrades a populated 0001 database in place (DESIGN §13), on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tests.api.conftest import api_settings, running_api

from notifications_api.database import create_engine
from notifications_api.migrations import upgrade
from notifications_api.models import Base, UtcDateTime

# The tables as revision 0001 left them (the models now describe 0002).
_NOTIFICATIONS = sa.table(
    "notifications",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("read_at", UtcDateTime()),
    sa.column("created_at", UtcDateTime()),
)
_COUNTERS = sa.table("user_counters", sa.column("user_id"), sa.column("total"), sa.column("unread"))
_T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _notification(user: str, i: int, *, read: bool) -> dict[str, object]:
    at = _T0 + timedelta(minutes=i)
    return {
        "id": uuid.uuid4(),
        "user_id": user,
        "type": "invoice.paid",
        "data": {"i": i},
        "read_at": at + timedelta(seconds=30) if read else None,
        "created_at": at,
    }


async def _populate_at_0001(database_url: str) -> list[dict[str, object]]:
    """alice: 3 unread + 2 read; bob: 1 read. The counters as 0001 kept them."""
    rows = [_notification("alice", i, read=i >= 3) for i in range(5)]
    rows.append(_notification("bob", 9, read=True))
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as connection:
            await connection.execute(sa.insert(_NOTIFICATIONS), rows)
            await connection.execute(
                sa.insert(_COUNTERS),
                [
                    {"user_id": "alice", "total": 5, "unread": 3},
                    {"user_id": "bob", "total": 1, "unread": 0},
                ],
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            drift = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert drift == [], f"the models and the migrations disagree: {drift}"
    finally:
        await engine.dispose()
    return rows


class TestUpgradeFrom0001:
    """Rows, counters and reads survive; read ones count as seen; the API serves them."""

    async def test_a_populated_database_upgrades_in_place(self, database_url, rabbitmq_url):
        rows = await _populate_at_0001(database_url)
        settings = api_settings(database_url, rabbitmq_url)
        async with running_api(settings) as api:
            assert await api.stats("alice") == {"total": 5, "unread": 3, "read": 2, "unseen": 3}
            assert await api.stats("bob") == {"total": 1, "unread": 0, "read": 1, "unseen": 0}
            listed = (
                await api.http.get("/api/v1/notifications", headers=api.auth("alice"))
            ).json()["items"]
            assert [n["id"] for n in listed] == [str(r["id"]) for r in reversed(rows[:5])]
            for n in listed:
                assert n["archivedAt"] is None
                assert n["seenAt"] == n["readAt"]  # read before 0002: seen when it was read
            # The upgraded database takes the new writes, counted exactly.
            ids = [str(r["id"]) for r in rows[:2]]
            answer = await api.http.post(
                "/api/v1/notifications/archive", json={"ids": ids}, headers=api.auth("alice")
            )
            assert answer.json() == {"archived": 2}
            await api.create("alice")
            assert await api.stats("alice") == {"total": 4, "unread": 2, "read": 2, "unseen": 2}

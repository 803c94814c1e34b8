"""Seen and archived reach every tab through the relay, the stats with unseen (DESIGN §13)."""

from __future__ import annotations

from tests.system.conftest import System, data


class TestThroughTheRelay:
    """notification.updated carries the whole notification; its stats frame carries unseen."""

    async def test_seen_then_archived_are_streamed(self, system: System):
        created = await system.api.create("42", "hello")
        me = system.api.auth("42")
        async with system.stream("42", relay=1) as tab:
            await tab.until("recent")
            await system.api.http.patch(
                f"/api/v1/notifications/{created['id']}", json={"seen": True}, headers=me
            )
            updated, stats = await tab.take(2)
            assert updated.event == "notification.updated"
            assert data(updated)["seenAt"] is not None
            assert data(updated)["readAt"] is None
            assert data(stats) == {"total": 1, "unread": 1, "read": 0, "unseen": 0}
            await system.api.http.post(
                "/api/v1/notifications/archive", json={"ids": [created["id"]]}, headers=me
            )
            archived, stats = await tab.take(2)
            assert data(archived)["archivedAt"] is not None
            assert data(stats) == {"total": 0, "unread": 0, "read": 0, "unseen": 0}

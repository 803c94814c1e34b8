"""The counters (DESIGN §4): ``/stats`` exact under concurrent writers, and ``/snapshot``."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api

URL = "/api/v1/notifications"


class TestStats:
    """Stats are exact, also under concurrent writers."""

    async def test_200_concurrent_creates_count_exactly(self, api: Api):
        results = await asyncio.gather(*(api.create("42", f"n{i}") for i in range(200)))
        assert len({r["id"] for r in results}) == 200
        assert await api.stats("42") == {"total": 200, "unread": 200, "read": 0, "unseen": 200}

    async def test_concurrent_mixed_writes_keep_counters_exact(self, api: Api):
        created = [await api.create("42", f"n{i}") for i in range(40)]
        me = api.auth("42")
        ops = [
            api.http.patch(f"{URL}/{n['id']}", json={"read": True}, headers=me)
            for n in created[:20]
        ]
        ops += [api.http.delete(f"{URL}/{n['id']}", headers=me) for n in created[10:30]]
        ops += [
            api.http.post(
                f"{URL}/read", json={"ids": [n["id"] for n in created[25:35]]}, headers=me
            )
        ]
        await asyncio.gather(*ops)
        items = (await api.http.get(URL, params={"limit": 100}, headers=me)).json()["items"]
        unread = sum(1 for n in items if n["readAt"] is None)
        assert await api.stats("42") == {
            "total": len(items),
            "unread": unread,
            "read": len(items) - unread,
            "unseen": unread,
        }

    async def test_a_new_user_has_zero_stats(self, api: Api):
        assert await api.stats("nobody") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}


class TestSnapshot:
    """``/snapshot`` is the caller's own stats and newest unread notifications in one answer."""

    async def test_it_holds_stats_and_the_newest_unread_ones(self, api: Api):
        created = [await api.create("42", f"n{i}") for i in range(12)]
        me = api.auth("42")
        await api.http.patch(f"{URL}/{created[-1]['id']}", json={"read": True}, headers=me)
        await api.create("someone-else", "not mine")
        body = (await api.http.get(f"{URL}/snapshot", headers=me)).json()
        assert body["stats"] == {"total": 12, "unread": 11, "read": 1, "unseen": 11}
        assert [n["id"] for n in body["recent"]] == [n["id"] for n in created[-2:-12:-1]]

    async def test_limit_is_bounded_and_a_new_user_gets_zeros(self, api: Api):
        me = api.auth("nobody")
        body = (await api.http.get(f"{URL}/snapshot", headers=me)).json()
        assert body == {"stats": {"total": 0, "unread": 0, "read": 0, "unseen": 0}, "recent": []}
        for limit in (0, 101, "x"):
            answer = await api.http.get(f"{URL}/snapshot", params={"limit": limit}, headers=me)
            assert answer.status_code == 422

    async def test_it_needs_a_token(self, api: Api):
        answer = await api.http.get(f"{URL}/snapshot")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"]

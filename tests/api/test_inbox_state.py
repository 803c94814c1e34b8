"""Seen, archived and their errors over REST (DESIGN §13), on SQLite and PostgreSQL.

Preferences have their own module, test_preferences.py.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tests.api.conftest import Api

URL = "/api/v1/notifications"
PREFS = f"{URL}/preferences"
SOME_ID = (
    "6f0c1a52-3f1e-4c3b-9d43-2b8e0f3a7c11"  # fixed: parameters must match across xdist workers
)


async def _patch(api: Api, user: str, id_: str, body: dict) -> dict:
    response = await api.http.patch(f"{URL}/{id_}", json=body, headers=api.auth(user))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _listed(api: Api, user: str, status: str) -> list[str]:
    response = await api.http.get(
        URL, params={"status": status, "limit": 100}, headers=api.auth(user)
    )
    assert response.status_code == 200, response.text
    return [n["id"] for n in response.json()["items"]]


class TestSeen:
    """Seen clears the badge (unseen) without reading; reading marks seen too."""

    async def test_patch_seen_then_read(self, api: Api):
        n = await api.create("42")
        seen = await _patch(api, "42", n["id"], {"seen": True})
        assert seen["seenAt"] is not None
        assert seen["readAt"] is None
        assert await api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 0}
        read = await _patch(api, "42", n["id"], {"read": True})
        assert read["seenAt"] == seen["seenAt"]  # the first time it was seen stays
        unseen = await _patch(api, "42", n["id"], {"seen": False})
        assert (unseen["seenAt"], unseen["readAt"]) == (None, None)  # unseen: unread too
        assert await api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}

    async def test_read_marks_seen(self, api: Api):
        n = await api.create("42")
        read = await _patch(api, "42", n["id"], {"read": True})
        assert read["seenAt"] == read["readAt"]
        assert await api.stats("42") == {"total": 1, "unread": 0, "read": 1, "unseen": 0}

    async def test_bulk_seen_all_and_named(self, api: Api):
        created = [await api.create("42") for _ in range(4)]
        me = api.auth("42")
        named = await api.http.post(f"{URL}/seen", json={"ids": [created[0]["id"]]}, headers=me)
        assert named.json() == {"updated": 1}
        rest = await api.http.post(f"{URL}/seen", headers=me)
        assert rest.json() == {"updated": 3}
        again = await api.http.post(f"{URL}/seen", json={}, headers=me)
        assert again.json() == {"updated": 0}
        assert await api.stats("42") == {"total": 4, "unread": 4, "read": 0, "unseen": 0}


class TestArchive:
    """Archived ones are listed only under status=archived and counted nowhere."""

    async def test_archive_and_restore(self, api: Api):
        a, b, c = [await api.create("42") for _ in range(3)]
        await _patch(api, "42", b["id"], {"read": True})
        me = api.auth("42")
        answer = await api.http.post(f"{URL}/archive", json={"ids": [a["id"], b["id"]]}, headers=me)
        assert answer.json() == {"archived": 2}
        assert (
            await api.http.post(f"{URL}/archive", json={"ids": [a["id"]]}, headers=me)
        ).json() == {"archived": 0}
        assert await api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}
        assert await _listed(api, "42", "all") == [c["id"]]
        assert await _listed(api, "42", "unread") == [c["id"]]
        assert await _listed(api, "42", "read") == []
        assert await _listed(api, "42", "archived") == [b["id"], a["id"]]
        # Read-all and seen-all leave archived ones alone; a change to one counts nowhere.
        assert (await api.http.post(f"{URL}/read", headers=me)).json() == {"updated": 1}
        await _patch(api, "42", a["id"], {"seen": True})
        assert await api.stats("42") == {"total": 1, "unread": 0, "read": 1, "unseen": 0}
        restored = await _patch(api, "42", a["id"], {"archived": False})
        assert restored["archivedAt"] is None
        assert await api.stats("42") == {"total": 2, "unread": 1, "read": 1, "unseen": 0}
        deleted = await api.http.post(f"{URL}/delete", json={"ids": [b["id"]]}, headers=me)
        assert deleted.json() == {"deleted": 1}  # an archived one: the counts do not move
        assert await api.stats("42") == {"total": 2, "unread": 1, "read": 1, "unseen": 0}

    async def test_the_snapshot_leaves_archived_ones_out(self, api: Api):
        a, b = await api.create("42"), await api.create("42")
        me = api.auth("42")
        await api.http.post(f"{URL}/archive", json={"ids": [b["id"]]}, headers=me)
        body = (await api.http.get(f"{URL}/snapshot", headers=me)).json()
        assert [n["id"] for n in body["recent"]] == [a["id"]]
        assert body["stats"]["total"] == 1


class TestErrors:
    """Bad bodies get 422, unknown ids 404, in the one error shape."""

    @pytest.mark.parametrize(
        "body", [{}, {"read": True, "seen": False}, {"archived": "maybe"}, {"pinned": True}]
    )
    async def test_bad_patch_bodies(self, api: Api, body):
        n = await api.create("42")
        response = await api.http.patch(f"{URL}/{n['id']}", json=body, headers=api.auth("42"))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"

    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/seen", {"ids": ["nope"]}),
            ("/seen", {"ids": None, "x": 1}),
            ("/archive", {}),
            ("/archive", {"ids": "x"}),
            ("/archive", {"ids": [SOME_ID] * 1001}),
        ],
    )
    async def test_bad_bulk_bodies(self, api: Api, path, body):
        response = await api.http.post(f"{URL}{path}", json=body, headers=api.auth("42"))
        assert response.status_code == 422, response.text

    async def test_unknown_ids(self, api: Api):
        me = api.auth("42")
        missing = await api.http.patch(f"{URL}/{uuid.uuid4()}", json={"seen": True}, headers=me)
        assert missing.status_code == 404
        body = {"ids": [str(uuid.uuid4())]}
        assert (await api.http.post(f"{URL}/archive", json=body, headers=me)).json() == {
            "archived": 0
        }

    async def test_a_bad_status_is_refused(self, api: Api):
        response = await api.http.get(URL, params={"status": "gone"}, headers=api.auth("42"))
        assert response.status_code == 422

    @pytest.mark.parametrize(
        ("method", "path"),
        [("PATCH", f"{URL}/{SOME_ID}"), ("POST", f"{URL}/seen"), ("GET", PREFS)],
    )
    async def test_no_token(self, api: Api, method, path):
        response = await api.http.request(method, path, json={"seen": True})
        assert response.status_code == 401


class TestIsolation:
    """A user never sees or changes another's notifications or preferences."""

    async def test_other_users_notifications_are_untouchable(self, api: Api):
        theirs = await api.create("alice")
        bob = api.auth("bob")
        for body in ({"seen": True}, {"archived": True}, {"read": True}):
            response = await api.http.patch(f"{URL}/{theirs['id']}", json=body, headers=bob)
            assert response.status_code == 404
        ids = {"ids": [theirs["id"]]}
        assert (await api.http.post(f"{URL}/seen", json=ids, headers=bob)).json() == {"updated": 0}
        assert (await api.http.post(f"{URL}/seen", headers=bob)).json() == {"updated": 0}
        assert (await api.http.post(f"{URL}/archive", json=ids, headers=bob)).json() == {
            "archived": 0
        }
        assert await _listed(api, "bob", "archived") == []
        assert await api.stats("alice") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}
        await api.http.post(f"{URL}/archive", json=ids, headers=api.auth("alice"))
        assert await _listed(api, "bob", "archived") == []

    async def test_preferences_are_each_users_own(self, api: Api):
        body = {"types": {"digest": {"inApp": False}}}
        put = await api.http.put(PREFS, json=body, headers=api.auth("alice"))
        assert put.status_code == 200
        bob = (await api.http.get(PREFS, headers=api.auth("bob"))).json()
        assert bob == {"default": {"inApp": True}, "types": {}}
        assert (await api.create("bob", type_="digest"))["type"] == "digest"


class TestExactCounts:
    """Counts stay exact while read/seen/archive changes race 200 concurrent creates."""

    async def test_changes_racing_creates(self, api: Api):
        first = [await api.create("42", f"n{i}") for i in range(30)]
        me = api.auth("42")
        creates = [api.create("42", f"c{i}") for i in range(200)]
        ops = [
            api.http.patch(f"{URL}/{n['id']}", json={"read": True}, headers=me) for n in first[:10]
        ]
        ops += [
            api.http.patch(f"{URL}/{n['id']}", json={"seen": True}, headers=me) for n in first[5:15]
        ]
        ops += [
            api.http.post(
                f"{URL}/archive", json={"ids": [n["id"] for n in first[12:22]]}, headers=me
            ),
            api.http.post(f"{URL}/seen", headers=me),
            api.http.post(f"{URL}/read", json={"ids": [n["id"] for n in first[20:25]]}, headers=me),
            api.http.post(
                f"{URL}/delete", json={"ids": [n["id"] for n in first[24:27]]}, headers=me
            ),
        ]
        results = await asyncio.gather(*creates, *ops)
        assert all(getattr(r, "status_code", 200) == 200 for r in results[200:])
        listed: list[dict] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = (await api.http.get(URL, params=params, headers=me)).json()
            listed += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        unread = sum(1 for n in listed if n["readAt"] is None)
        unseen = sum(1 for n in listed if n["seenAt"] is None)
        assert all(n["seenAt"] is not None for n in listed if n["readAt"] is not None)
        assert await api.stats("42") == {
            "total": len(listed),
            "unread": unread,
            "read": len(listed) - unread,
            "unseen": unseen,
        }
        assert len(listed) + len(await _listed(api, "42", "archived")) == 227

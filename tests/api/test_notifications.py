"""Reading and changing the caller's notifications (DESIGN §4): list, one, bulk."""

from __future__ import annotations

import uuid

import pytest
from tests.api.conftest import Api, assert_error

URL = "/api/v1/notifications"


class TestList:
    """GET lists the caller's notifications newest first, a page at a time."""

    async def test_pages_cover_everything_once_newest_first(self, api: Api):
        created = [await api.create("42", f"n{i}") for i in range(25)]
        seen, cursor = [], None
        for expected in (10, 10, 5):
            params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
            page = (await api.http.get(URL, params=params, headers=api.auth("42"))).json()
            assert len(page["items"]) == expected
            seen += page["items"]
            cursor = page["nextCursor"]
        assert cursor is None
        assert [n["id"] for n in seen] == [n["id"] for n in reversed(created)]

    async def test_default_limit_is_20(self, api: Api):
        for i in range(21):
            await api.create("42", f"n{i}")
        page = (await api.http.get(URL, headers=api.auth("42"))).json()
        assert len(page["items"]) == 20
        assert page["nextCursor"]

    async def test_status_filters(self, api: Api):
        a = await api.create("42", "a")
        await api.create("42", "b")
        await api.http.patch(f"{URL}/{a['id']}", json={"read": True}, headers=api.auth("42"))
        for status, expected in (("all", 2), ("unread", 1), ("read", 1)):
            page = (
                await api.http.get(URL, params={"status": status}, headers=api.auth("42"))
            ).json()
            assert len(page["items"]) == expected, status
        read = (await api.http.get(URL, params={"status": "read"}, headers=api.auth("42"))).json()
        assert read["items"][0]["id"] == a["id"]

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"status": "new"}]
    )
    async def test_bad_parameters_get_422(self, api: Api, params):
        assert_error(await api.http.get(URL, params=params, headers=api.auth("42")), 422)

    @pytest.mark.parametrize("cursor", ["garbage!", "djE6YWJj", "", "x" * 300])
    async def test_foreign_cursors_get_a_clear_error(self, api: Api, cursor):
        response = await api.http.get(URL, params={"cursor": cursor}, headers=api.auth("42"))
        assert response.status_code in {400, 422}
        assert_error(response, response.status_code)


class TestOne:
    """GET/PATCH/DELETE of one notification act on the caller's own only."""

    async def test_get_returns_it(self, api: Api):
        created = await api.create("42")
        response = await api.http.get(f"{URL}/{created['id']}", headers=api.auth("42"))
        assert response.json() == created

    @pytest.mark.parametrize(
        "notification_id",
        ["5d3f8c1e-2b7a-4f0e-9c6d-0a1b2c3d4e5f", "not-a-uuid"],
        ids=["unknown", "not-uuid"],
    )
    async def test_unknown_ids_get_404(self, api: Api, notification_id):
        for method in ("GET", "DELETE"):
            response = await api.http.request(
                method, f"{URL}/{notification_id}", headers=api.auth("42")
            )
            assert_error(response, 404, "not_found")
        response = await api.http.patch(
            f"{URL}/{notification_id}", json={"read": True}, headers=api.auth("42")
        )
        assert_error(response, 404)

    async def test_patch_marks_read_and_unread(self, api: Api):
        created = await api.create("42")
        path, me = f"{URL}/{created['id']}", api.auth("42")
        read = (await api.http.patch(path, json={"read": True}, headers=me)).json()
        assert read["readAt"] is not None
        assert await api.stats("42") == {"total": 1, "unread": 0, "read": 1, "unseen": 0}
        again = (await api.http.patch(path, json={"read": True}, headers=me)).json()
        assert again["readAt"] == read["readAt"]
        unread = (await api.http.patch(path, json={"read": False}, headers=me)).json()
        assert unread["readAt"] is None
        assert unread["seenAt"] == read["seenAt"]  # marking unread leaves it seen
        assert await api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 0}

    @pytest.mark.parametrize("body", [{}, {"read": "maybe"}, {"read": True, "x": 1}])
    async def test_patch_with_a_bad_body_gets_422(self, api: Api, body):
        created = await api.create("42")
        response = await api.http.patch(f"{URL}/{created['id']}", json=body, headers=api.auth("42"))
        assert_error(response, 422)

    async def test_delete_answers_204_then_404(self, api: Api):
        created = await api.create("42")
        path = f"{URL}/{created['id']}"
        response = await api.http.delete(path, headers=api.auth("42"))
        assert response.status_code == 204
        assert response.content == b""
        assert_error(await api.http.delete(path, headers=api.auth("42")), 404)
        assert await api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}


class TestBulk:
    """Bulk read and delete act on the caller's notifications only."""

    async def test_read_without_ids_marks_every_unread(self, api: Api):
        for i in range(3):
            await api.create("42", f"n{i}")
        other = await api.create("43")
        response = await api.http.post(f"{URL}/read", headers=api.auth("42"))
        assert response.json() == {"updated": 3}
        assert await api.stats("42") == {"total": 3, "unread": 0, "read": 3, "unseen": 0}
        assert (await api.http.post(f"{URL}/read", json={}, headers=api.auth("42"))).json() == {
            "updated": 0
        }
        assert (await api.http.get(f"{URL}/{other['id']}", headers=api.auth("43"))).json()[
            "readAt"
        ] is None

    async def test_read_with_ids_marks_those(self, api: Api):
        a, b = await api.create("42", "a"), await api.create("42", "b")
        stranger = await api.create("43")
        ids = [a["id"], stranger["id"]]
        assert (
            await api.http.post(f"{URL}/read", json={"ids": ids}, headers=api.auth("42"))
        ).json() == {"updated": 1}
        assert (await api.http.get(f"{URL}/{b['id']}", headers=api.auth("42"))).json()[
            "readAt"
        ] is None
        assert (await api.stats("43"))["unread"] == 1

    async def test_delete_with_ids_deletes_only_the_callers(self, api: Api):
        a, b = await api.create("42", "a"), await api.create("42", "b")
        stranger = await api.create("43")
        ids = [a["id"], b["id"], stranger["id"], str(uuid.uuid4())]
        response = await api.http.post(f"{URL}/delete", json={"ids": ids}, headers=api.auth("42"))
        assert response.json() == {"deleted": 2}
        assert await api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}
        assert (await api.stats("43"))["total"] == 1

    @pytest.mark.parametrize(
        "body", [{}, {"ids": "x"}, {"ids": ["nope"]}, {"ids": [str(uuid.uuid4())] * 1001}]
    )
    async def test_bad_bulk_delete_bodies_get_422(self, api: Api, body):
        assert_error(await api.http.post(f"{URL}/delete", json=body, headers=api.auth("42")), 422)

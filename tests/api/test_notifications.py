"""The REST contract of DESIGN §4, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tests.api.conftest import Api
from tests.support.servers import eventually

URL = "/api/v1/notifications"


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


class TestCreate:
    """POST creates one notification and answers 201 with it."""

    async def test_created_notification_has_the_contract_fields(self, api: Api):
        created = await api.create("42", {"title": "Invoice paid", "amount": 10})
        assert set(created) == {
            "id",
            "type",
            "notifiableType",
            "notifiableId",
            "data",
            "readAt",
            "createdAt",
            "seenAt",
            "archivedAt",
        }
        assert uuid.UUID(created["id"])
        assert created["notifiableType"] == "user"
        assert created["notifiableId"] == "42"
        assert created["data"] == {"title": "Invoice paid", "amount": 10}
        assert created["readAt"] is None
        assert created["createdAt"].endswith("Z")

    async def test_data_may_be_a_string(self, api: Api):
        created = await api.create("42", "line one\nline two")
        assert created["data"] == "line one\nline two"

    async def test_numeric_notifiable_id_is_read_as_a_string(self, api: Api):
        body = {"type": "t", "notifiableType": "user", "notifiableId": 42, "data": "x"}
        response = await api.http.post(URL, json=body, headers=api.service())
        assert response.status_code == 201
        assert response.json()["notifiableId"] == "42"

    async def test_a_user_may_notify_itself(self, api: Api):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "7", "data": "note to self"}
        response = await api.http.post(URL, json=body, headers=api.auth("7"))
        assert response.status_code == 201

    async def test_a_user_may_not_notify_someone_else(self, api: Api):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "8", "data": "x"}
        assert_error(await api.http.post(URL, json=body, headers=api.auth("7")), 403, "forbidden")
        assert (await api.stats("8"))["total"] == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"notifiableType": "user", "notifiableId": "1", "data": "x"},
            {"type": "t", "notifiableType": "team", "notifiableId": "1", "data": "x"},
            {"type": "t", "notifiableType": "user", "notifiableId": "", "data": "x"},
            {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": [1, 2]},
            {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": "x", "extra": 1},
            {"type": "", "notifiableType": "user", "notifiableId": "1", "data": "x"},
            [],
        ],
        ids=[
            "no-type",
            "not-user",
            "empty-id",
            "data-list",
            "unknown-field",
            "empty-type",
            "array",
        ],
    )
    async def test_invalid_bodies_get_422(self, api: Api, body):
        assert_error(
            await api.http.post(URL, json=body, headers=api.service()), 422, "validation_error"
        )

    async def test_data_over_16_kib_gets_422(self, api: Api):
        body = {
            "type": "t",
            "notifiableType": "user",
            "notifiableId": "1",
            "data": "x" * (16 * 1024 + 1),
        }
        assert_error(await api.http.post(URL, json=body, headers=api.service()), 422)
        body["data"] = "x" * (16 * 1024)
        assert (await api.http.post(URL, json=body, headers=api.service())).status_code == 201

    async def test_malformed_json_gets_400(self, api: Api):
        headers = {**api.service(), "content-type": "application/json"}
        assert_error(
            await api.http.post(URL, content=b'{"type": ', headers=headers), 400, "invalid_json"
        )
        assert_error(await api.http.post(URL, content=b"\xff\xfe{}", headers=headers), 400)

    async def test_deeply_nested_json_is_refused_cleanly(self, api: Api):
        headers = {**api.service(), "content-type": "application/json"}
        deep = (
            b'{"type":"t","notifiableType":"user","notifiableId":"1","data":'
            + b'{"a":' * 5000
            + b"1"
            + b"}" * 5001
        )
        response = await api.http.post(URL, content=deep, headers=headers)
        assert response.status_code in {400, 413, 422}

    async def test_body_over_the_limit_gets_413_before_parsing(self, api: Api):
        headers = {**api.service(), "content-type": "application/json"}
        too_big = b"{" + b" " * api.settings.max_body_bytes + b"}"
        assert_error(
            await api.http.post(URL, content=too_big, headers=headers), 413, "payload_too_large"
        )

    async def test_chunked_body_over_the_limit_gets_413(self, api: Api):
        headers = {**api.service(), "content-type": "application/json"}

        async def chunks():
            for _ in range(api.settings.max_body_bytes // 1024 + 2):
                yield b" " * 1024

        assert_error(await api.http.post(URL, content=chunks(), headers=headers), 413)


class TestIdempotency:
    """A retry with the same Idempotency-Key returns the first result and creates nothing."""

    async def test_retry_returns_the_first_result(self, api: Api):
        headers = {"Idempotency-Key": "order-1"}
        first = await api.create("42", "paid", headers=headers)
        again = await api.create("42", "paid", headers=headers)
        assert again == first
        assert (await api.stats("42"))["total"] == 1

    async def test_concurrent_retries_create_one(self, api: Api):
        headers = {"Idempotency-Key": "order-2"}
        results = await asyncio.gather(
            *(api.create("42", "paid", headers=headers) for _ in range(10))
        )
        assert len({r["id"] for r in results}) == 1
        assert (await api.stats("42"))["total"] == 1

    async def test_same_key_with_another_body_gets_409(self, api: Api):
        await api.create("42", "paid", headers={"Idempotency-Key": "order-3"})
        body = {"type": "test", "notifiableType": "user", "notifiableId": "42", "data": "refunded"}
        headers = {**api.service(), "Idempotency-Key": "order-3"}
        assert_error(await api.http.post(URL, json=body, headers=headers), 409)

    async def test_keys_of_different_callers_do_not_collide(self, api: Api):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": "x"}
        a = await api.http.post(URL, json=body, headers={**api.auth("1"), "Idempotency-Key": "k"})
        body["notifiableId"] = "2"
        b = await api.http.post(URL, json=body, headers={**api.auth("2"), "Idempotency-Key": "k"})
        assert a.status_code == b.status_code == 201
        assert a.json()["id"] != b.json()["id"]


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


class TestOperations:
    """Liveness, readiness and metrics."""

    async def test_healthz(self, api: Api):
        assert (await api.http.get("/healthz")).status_code == 200

    async def test_readyz_reports_database_broker_and_outbox(self, api: Api):
        async def ready() -> bool:
            return (await api.http.get("/readyz")).status_code == 200

        await eventually(ready, timeout=10, what="readyz 200")
        body = (await api.http.get("/readyz")).json()
        assert body["database"] == "ok"
        assert body["broker"] == "ok"
        assert body["outbox"]["pending"] >= 0

    async def test_metrics_expose_requests_and_outbox(self, api: Api):
        await api.create("42")
        text = (await api.http.get("/metrics")).text
        for name in (
            "http_requests_total",
            "outbox_pending_events",
            "outbox_publish_latency_seconds",
            "outbox_publish_failures_total",
        ):
            assert name in text

    async def test_unknown_route_gets_json_404(self, api: Api):
        assert_error(await api.http.get("/nope"), 404)
        assert_error(await api.http.put(URL, headers=api.service()), 405)

"""Creating a notification (DESIGN §4): the answer, bad bodies, Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tests.api.conftest import Api, assert_error

URL = "/api/v1/notifications"


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

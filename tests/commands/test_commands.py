"""DESIGN §9: commands over RabbitMQ do exactly what POST /api/v1/notifications does."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson
import pytest
from tests.api.conftest import SECRET, Api
from tests.commands.conftest import Sender, command
from tests.support.servers import eventually
from tests.support.stream import read_log

from qahub_contracts.auth import mint_token
from qahub_contracts.topology import COMMAND_QUEUE

URL = "/api/v1/notifications"
MANAGEMENT = "http://127.0.0.1:15672/api"


async def _listed(api: Api, user: str) -> list[dict]:
    response = await api.http.get(URL, headers=api.auth(user))
    return list(response.json()["items"])


class TestCreate:
    """A command published by a service that does not use our client creates a notification."""

    async def test_bare_aio_pika_command_creates_and_emits_the_event(
        self, api: Api, sender: Sender, rabbitmq_url: str
    ):
        body = command("42", {"invoice": 7})
        await sender.send(body)
        log = await read_log(rabbitmq_url, 1)
        created = log[0].event.notification  # type: ignore[union-attr]
        assert created.data == {"invoice": 7}
        assert created.notifiable_id == "42"
        assert [n["id"] for n in await _listed(api, "42")] == [str(created.id)]
        assert (await api.stats("42"))["unread"] == 1

    async def test_reply_to_gets_the_notification(self, api: Api, sender: Sender):
        correlation = await sender.send(command("42", "hi"), reply=True)
        assert correlation is not None
        answer = await sender.answer(correlation)
        assert answer["ok"] is True
        assert answer["notification"]["data"] == "hi"
        assert [n["id"] for n in await _listed(api, "42")] == [answer["notification"]["id"]]


class TestIdempotency:
    """commandId is the sender's Idempotency-Key: one notification per commandId, REST included."""

    async def test_a_republished_command_creates_once(self, api: Api, sender: Sender):
        body = command("42")
        first = await sender.send(body, reply=True)
        second = await sender.send(body, reply=True)
        a, b = await sender.answer(first or ""), await sender.answer(second or "")
        assert a["notification"]["id"] == b["notification"]["id"]
        assert len(await _listed(api, "42")) == 1

    async def test_rest_with_the_command_id_as_key_returns_the_same(self, api: Api, sender: Sender):
        body = command("42", "same")
        answer = await sender.answer(await sender.send(body, reply=True) or "")
        rest = {k: body[k] for k in ("type", "notifiableType", "notifiableId", "data")}
        response = await api.http.post(
            URL, json=rest, headers={**api.service(), "Idempotency-Key": body["commandId"]}
        )
        assert response.status_code == 201
        assert response.json()["id"] == answer["notification"]["id"]
        assert len(await _listed(api, "42")) == 1

    async def test_rest_first_then_the_command(self, api: Api, sender: Sender):
        body = command("42", "rest first")
        rest = {k: body[k] for k in ("type", "notifiableType", "notifiableId", "data")}
        created = await api.create(
            "42", "rest first", type_=body["type"], headers={"Idempotency-Key": body["commandId"]}
        )
        answer = await sender.answer(await sender.send(body, reply=True) or "")
        assert answer["notification"]["id"] == created["id"]
        assert rest["data"] == "rest first"


BAD = [
    pytest.param(b"not json", "invalid_json", id="not-json"),
    pytest.param(orjson.dumps(command(schemaVersion=2)), "unsupported_schema_version", id="v2"),
    pytest.param(orjson.dumps({"commandId": "x"}), "validation_error", id="schema"),
    pytest.param(orjson.dumps(command(data="x" * 17000)), "validation_error", id="too-big"),
    pytest.param(orjson.dumps(command(data={"n": "a\x00"})), "validation_error", id="nul"),
    # orjson (FastStream's decoder here) reads an escaped lone surrogate as invalid JSON
    pytest.param(
        json.dumps(command(data={"\ud800": 1})).encode(), "invalid_json", id="lone-surrogate"
    ),
]


class TestDeadLetters:
    """What can never succeed goes to the dead queue with its reason; the queue keeps flowing."""

    @pytest.mark.parametrize(("raw", "code"), BAD)
    async def test_unreadable_commands(self, sender: Sender, raw: bytes, code: str):
        correlation = await sender.send(raw, reply=True, message_id="m-1")
        [dead] = await sender.dead(1)
        assert dead.body == raw
        assert dead.headers["x-qahub-error"] == code
        assert dead.headers["x-qahub-error-message"]
        assert dead.message_id == "m-1"
        assert dead.content_type == "application/json"
        assert "authorization" not in dead.headers
        answer = await sender.answer(correlation or "")
        assert answer == {
            "ok": False,
            "error": {"code": code, "message": answer["error"]["message"]},
        }
        await self._still_flowing(sender)

    @pytest.mark.parametrize(
        ("token", "code"),
        [
            pytest.param(None, "unauthorized", id="missing"),
            pytest.param("not-a-jwt", "unauthorized", id="invalid"),
            pytest.param(mint_token(SECRET, "7"), "forbidden", id="user-token-for-another"),
        ],
    )
    async def test_refused_callers(self, sender: Sender, token: str | None, code: str):
        await sender.send(command("42"), token=token)
        [dead] = await sender.dead(1)
        assert dead.headers["x-qahub-error"] == code
        await self._still_flowing(sender)

    async def test_a_user_token_may_notify_itself(self, sender: Sender):
        answer = await sender.answer(
            await sender.send(command("7"), token=mint_token(SECRET, "7"), reply=True) or ""
        )
        assert answer["ok"] is True

    async def test_the_dead_letters_are_counted(self, api: Api, sender: Sender):
        await sender.send(b"{", reply=False)
        await sender.send(command("42"))
        await sender.dead(1)

        async def counted() -> bool:
            text = (await api.http.get("/metrics")).text
            return (
                'commands_total{code="invalid_json",outcome="dead_lettered"} 1.0' in text
                and 'commands_total{code="",outcome="created"} 1.0' in text
            )

        await eventually(counted, timeout=10, what="both outcomes in /metrics")

    @staticmethod
    async def _still_flowing(sender: Sender) -> None:
        marker = str(uuid.uuid4())
        answer = await sender.answer(await sender.send(command("42", marker), reply=True) or "")
        assert answer["ok"] is True


class TestBrokerDrop:
    """FastStream issue #2758: after its connection is closed, the subscriber consumes again."""

    async def test_commands_flow_after_the_connection_is_closed(
        self, sender: Sender, rabbitmq_url: str
    ):
        vhost = unquote(urlsplit(rabbitmq_url).path.lstrip("/"))
        async with httpx.AsyncClient(auth=("guest", "guest"), timeout=10) as http:

            async def commands_connection() -> str | None:
                """The connection that consumes the command queue (the API's subscriber)."""
                listed = await http.get(f"{MANAGEMENT}/consumers/{quote(vhost, safe='')}")
                # channel_details is [] (not an object) while the broker has not yet
                # collected that channel's stats: not known yet, ask again
                names = [
                    c["channel_details"]["connection_name"]
                    for c in listed.json()
                    if c["queue"]["name"] == COMMAND_QUEUE and c["channel_details"]
                ]
                return names[0] if names else None

            await eventually(commands_connection, timeout=15, what="the commands connection")
            name = await commands_connection()
            closed = await http.delete(f"{MANAGEMENT}/connections/{quote(name or '', safe='')}")
            assert closed.status_code == 204
        answer = await sender.answer(
            await sender.send(command("42", "after the drop"), reply=True) or "", timeout=30
        )
        assert answer["ok"] is True

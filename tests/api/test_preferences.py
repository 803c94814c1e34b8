"""Preferences (DESIGN §13): a muted type is suppressed, over REST and over commands."""

from __future__ import annotations

import asyncio
import json
import uuid
from unittest.mock import ANY

import aio_pika
import pytest
from tests.api.conftest import Api
from tests.support.commands import wait_for_command_consumer

from qahub_contracts.topology import AUTHORIZATION_HEADER, COMMAND_EXCHANGE, CREATE_COMMAND_KEY

URL = "/api/v1/notifications"
PREFS = f"{URL}/preferences"


class TestPreferences:
    """A muted type is suppressed (nothing stored, nothing emitted) unless critical."""

    async def test_get_defaults_then_put_replaces(self, api: Api):
        me = api.auth("42")
        assert (await api.http.get(PREFS, headers=me)).json() == {
            "default": {"inApp": True},
            "types": {},
        }
        body = {"default": {"inApp": True}, "types": {"digest": {"inApp": False}}}
        put = await api.http.put(PREFS, json=body, headers=me)
        assert (put.status_code, put.json()) == (200, body)
        assert (await api.http.get(PREFS, headers=me)).json() == body
        replaced = await api.http.put(PREFS, json={}, headers=me)
        assert replaced.json() == {"default": {"inApp": True}, "types": {}}

    @pytest.mark.parametrize(
        "body",
        [{"types": {"x": {}}}, {"types": {"x": {"inApp": 1}}}, {"mute": ["x"]}, {"default": None}],
    )
    async def test_bad_preferences_get_422(self, api: Api, body):
        response = await api.http.put(PREFS, json=body, headers=api.auth("42"))
        assert response.status_code == 422, response.text

    async def test_a_muted_type_is_suppressed_and_others_delivered(self, api: Api):
        await api.http.put(
            PREFS, json={"types": {"digest": {"inApp": False}}}, headers=api.auth("42")
        )
        body = {"type": "digest", "notifiableType": "user", "notifiableId": "42", "data": "d"}
        muted = await api.http.post(URL, json=body, headers=api.service())
        assert (muted.status_code, muted.json()) == (
            200,
            {"suppressed": True, "reason": "preference"},
        )
        assert await api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}
        await api.create("42", type_="alert")
        critical = await api.http.post(URL, json={**body, "critical": True}, headers=api.service())
        assert critical.status_code == 201
        assert await api.stats("42") == {"total": 2, "unread": 2, "read": 0, "unseen": 2}

    async def test_a_muted_default_mutes_every_type_but_those_turned_on(self, api: Api):
        prefs = {"default": {"inApp": False}, "types": {"alert": {"inApp": True}}}
        await api.http.put(PREFS, json=prefs, headers=api.auth("42"))
        body = {"type": "news", "notifiableType": "user", "notifiableId": "42", "data": "d"}
        assert (await api.http.post(URL, json=body, headers=api.service())).status_code == 200
        assert (await api.create("42", type_="alert"))["type"] == "alert"

    async def test_critical_from_a_user_token_is_403(self, api: Api):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "42", "data": "d"}
        response = await api.http.post(URL, json={**body, "critical": True}, headers=api.auth("42"))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert await api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}


async def _command(api: Api, headers: dict[str, str], **fields: object) -> dict:
    """Publish one create command with a reply queue; the API's reply."""
    body = {"commandId": str(uuid.uuid4()), "schemaVersion": 1, "type": "digest"}
    body |= {"notifiableType": "user", "notifiableId": "42", "data": "d", **fields}
    connection = await aio_pika.connect(api.settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        replies = await channel.declare_queue(exclusive=True)
        exchange = await channel.get_exchange(COMMAND_EXCHANGE)
        message = aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            headers={AUTHORIZATION_HEADER: headers["Authorization"]},
            reply_to=replies.name,
            correlation_id="c-1",
        )
        await exchange.publish(message, CREATE_COMMAND_KEY)
        reply = await replies.get(timeout=15, fail=False)
        for _ in range(150):  # bounded: the API answers within seconds
            if reply is not None:
                break
            await asyncio.sleep(0.1)
            reply = await replies.get(timeout=15, fail=False)
        assert reply is not None, "no reply from the API"
        await reply.ack()
        return dict(json.loads(reply.body))


class TestPreferencesOnCommands:
    """A command is suppressed like a REST create, and its reply says so."""

    async def test_suppressed_critical_and_refused(self, api: Api):
        await wait_for_command_consumer(api.settings.rabbitmq_url)
        await api.http.put(
            PREFS, json={"types": {"digest": {"inApp": False}}}, headers=api.auth("42")
        )
        suppressed = await _command(api, api.service())
        assert suppressed == {"ok": True, "suppressed": True, "reason": "preference"}
        assert await api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}
        critical = await _command(api, api.service(), critical=True)
        assert critical["ok"] is True
        assert critical["notification"]["type"] == "digest"
        refused = await _command(api, api.auth("42"), critical=True)
        assert refused == {"ok": False, "error": {"code": "forbidden", "message": ANY}}
        assert await api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}

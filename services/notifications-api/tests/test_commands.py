"""The command handler in memory (FastStream's TestRabbitBroker): outcomes, dead letters, pauses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from faststream.rabbit import RabbitMessage, RabbitQueue
from faststream.rabbit.testing import TestRabbitBroker
from sqlalchemy.exc import OperationalError

from notifications_api.command_broker import command_broker
from notifications_api.commands import DEAD_LETTERS, Commands
from notifications_api.database_gate import DatabaseGate
from notifications_api.errors import Forbidden
from notifications_api.metrics import ApiMetrics
from qahub_contracts import api
from qahub_contracts.auth import PUBLISH_SCOPE, TokenVerifier, mint_token
from qahub_contracts.topology import COMMAND_DEAD_QUEUE, COMMAND_EXCHANGE, CREATE_COMMAND_KEY

SECRET = "test-secret-that-is-long-enough-for-hs256"
SERVICE = {"authorization": f"Bearer {mint_token(SECRET, 'billing', scope=PUBLISH_SCOPE)}"}


class FakeNotifications:
    """The create use case's seam: records calls, fails as told."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.calls: list[tuple[str, api.CreateNotification, str | None]] = []
        self.failures = failures or []

    async def create(self, caller, request, key) -> api.Notification:
        self.calls.append((caller.user_id, request, key))
        if self.failures:
            raise self.failures.pop(0)
        return api.Notification(
            id=uuid.uuid4(),
            type=request.type,
            notifiable_id=request.notifiable_id,
            data=request.data,
            read_at=None,
            created_at=datetime.now(UTC),
        )


def _command(**fields: Any) -> dict[str, Any]:
    body = {
        "commandId": str(uuid.uuid4()),
        "schemaVersion": 1,
        "type": "t",
        "notifiableType": "user",
        "notifiableId": "42",
        "data": "hi",
    }
    return {**body, **fields}


async def _raw(message: RabbitMessage) -> bytes:
    return message.body


@pytest.fixture
def harness():
    notifications = FakeNotifications()
    metrics = ApiMetrics()
    probes: list[int] = []

    async def probe() -> None:  # the database is away for the first two probes
        probes.append(1)
        if len(probes) <= 2:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    gate = DatabaseGate(probe, metrics.commands_paused.set, interval=0.01)
    commands = Commands(notifications, TokenVerifier(secret=SECRET), metrics, gate)  # type: ignore[arg-type]
    broker = command_broker(commands)
    dead: list[RabbitMessage] = []

    # Dead letters are kept as bytes: an unreadable body stays unread here too.
    @broker.subscriber(RabbitQueue(COMMAND_DEAD_QUEUE), DEAD_LETTERS, decoder=_raw)
    async def dead_letters(message: RabbitMessage) -> None:
        dead.append(message)

    return broker, notifications, dead, metrics


async def _send(broker, body: bytes | dict, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await broker.request(
        raw,
        exchange=COMMAND_EXCHANGE,
        routing_key=CREATE_COMMAND_KEY,
        headers=SERVICE if headers is None else headers,
        content_type="application/json",
    )
    return await reply.decode()


class TestHandler:
    """A command runs the create use case with its commandId as the Idempotency-Key."""

    async def test_created(self, harness):
        broker, notifications, dead, _ = harness
        body = _command()
        async with TestRabbitBroker(broker):
            answer = await _send(broker, body)
        assert answer["ok"] is True
        assert answer["notification"]["notifiableId"] == "42"
        [(caller, request, key)] = notifications.calls
        assert (caller, request.data, key) == ("billing", "hi", body["commandId"])
        assert dead == []

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            (b"{", "invalid_json"),
            (orjson.dumps(_command(schemaVersion=3)), "unsupported_schema_version"),
            (orjson.dumps(_command(notifiableType="team")), "validation_error"),
        ],
    )
    async def test_unreadable_is_dead_lettered_with_its_reason(self, harness, raw, code):
        broker, notifications, dead, _ = harness
        async with TestRabbitBroker(broker):
            answer = await _send(broker, raw)
        assert answer["ok"] is False
        assert answer["error"]["code"] == code
        [letter] = dead
        assert letter.body == raw
        assert letter.headers["x-qahub-error"] == code
        assert "authorization" not in letter.headers
        assert notifications.calls == []

    async def test_a_missing_token_is_dead_lettered(self, harness):
        broker, notifications, dead, _ = harness
        async with TestRabbitBroker(broker):
            answer = await _send(broker, _command(), headers={})
        assert answer["error"]["code"] == "unauthorized"
        assert [d.headers["x-qahub-error"] for d in dead] == ["unauthorized"]
        assert notifications.calls == []

    async def test_forbidden_is_dead_lettered(self, harness):
        broker, notifications, dead, _ = harness
        notifications.failures.append(Forbidden("this token may only notify its own user"))
        async with TestRabbitBroker(broker):
            answer = await _send(broker, _command())
        assert answer["error"]["code"] == "forbidden"
        assert [d.headers["x-qahub-error"] for d in dead] == ["forbidden"]


class TestDatabaseOutage:
    """A database that does not answer pauses the command; nothing is dead-lettered."""

    async def test_the_command_waits_and_then_succeeds(self, harness):
        broker, notifications, dead, metrics = harness
        outage = OperationalError("INSERT", {}, Exception("database is locked"))
        notifications.failures.append(outage)
        async with TestRabbitBroker(broker):
            answer = await _send(broker, _command())
        assert answer["ok"] is True
        assert len(notifications.calls) == 2
        assert dead == []
        assert metrics.commands_paused._value.get() == 0

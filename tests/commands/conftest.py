"""Commands over the real broker: publish with bare aio-pika, read the dead letters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import orjson
import pytest
from tests.api.conftest import SECRET, Api, api, settings
from tests.support.commands import wait_for_command_consumer
from tests.support.servers import eventually

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.topology import (
    COMMAND_DEAD_QUEUE,
    COMMAND_EXCHANGE,
    CREATE_COMMAND_KEY,
)

__all__ = ["api", "settings"]  # the API fixtures, served for real

SERVICE = mint_token(SECRET, "billing-service", scope=PUBLISH_SCOPE)


def command(to: str = "42", data: object = "hello", **fields: Any) -> dict[str, Any]:
    body = {
        "commandId": str(uuid.uuid4()),
        "schemaVersion": 1,
        "type": "invoice.paid",
        "notifiableType": "user",
        "notifiableId": to,
        "data": data,
    }
    return {**body, **fields}


@dataclass
class Sender:
    """A service that is not built on our client: bare aio-pika, persistent, confirmed."""

    channel: aio_pika.abc.AbstractChannel
    replies: aio_pika.abc.AbstractQueue | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def send(
        self,
        body: dict[str, Any] | bytes,
        *,
        token: str | None = SERVICE,
        reply: bool = False,
        message_id: str | None = None,
    ) -> str | None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        correlation_id = str(uuid.uuid4()) if reply else None
        if isinstance(body, dict):
            message_id = message_id or body.get("commandId")
        exchange = await self.channel.get_exchange(COMMAND_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                raw,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                headers={"authorization": f"Bearer {token}"} if token else {},
                reply_to=self.replies.name if reply and self.replies else None,
                correlation_id=correlation_id,
            ),
            CREATE_COMMAND_KEY,
            mandatory=True,
        )
        return correlation_id

    async def answer(self, correlation_id: str, timeout: float = 10) -> dict[str, Any]:
        async def arrived() -> bool:
            return correlation_id in self.answers

        await eventually(arrived, timeout=timeout, what=f"the reply to {correlation_id}")
        return self.answers[correlation_id]

    async def dead(self, count: int, timeout: float = 10) -> list[aio_pika.abc.AbstractMessage]:
        """The first ``count`` dead letters (acked: each test reads its own vhost)."""
        queue = await self.channel.get_queue(COMMAND_DEAD_QUEUE)
        found: list[aio_pika.abc.AbstractMessage] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                if time.monotonic() > deadline:
                    msg = f"{len(found)} dead letters of {count} after {timeout}s"
                    raise AssertionError(msg)
                await asyncio.sleep(0.05)
                continue
            found.append(message)
        return found


@pytest.fixture
async def sender(api: Api, rabbitmq_url: str) -> AsyncIterator[Sender]:
    await wait_for_command_consumer(rabbitmq_url)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        out = Sender(channel, replies)

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                out.answers[message.correlation_id or ""] = orjson.loads(message.body)

        await replies.consume(on_reply)
        yield out

"""The client against the real system: the API and a relay on loopback, a fresh vhost each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from tests.api.conftest import SECRET, api_settings, migrate
from tests.support.servers import serving
from tests.system.conftest import relay_settings

from notifications_api.app import create_app as create_api
from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.topology import COMMAND_EXCHANGE, CREATE_COMMAND_KEY
from stream_relay.app import create_app as create_relay


@dataclass
class Stack:
    """Where the running API and relay answer, and tokens their key accepts."""

    api_url: str
    relay_url: str
    rabbitmq_url: str

    def token(self, sub: str, **claims: Any) -> str:
        return mint_token(SECRET, sub, **claims)

    def service_token(self) -> str:
        return self.token("billing-service", scope=PUBLISH_SCOPE)


@pytest.fixture
async def stack(tmp_path: Path, rabbitmq_url: str) -> AsyncIterator[Stack]:
    """API + relay over SQLite; the relay asks clients to reconnect after 100 ms."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await migrate(database_url)
    settings = api_settings(database_url, rabbitmq_url, rate_limit_per_second=10_000.0)
    async with serving(create_api(settings)) as api_url:
        relay = relay_settings(rabbitmq_url, api_url, sse_retry_ms=100, sse_heartbeat_seconds=0.3)
        async with serving(create_relay(relay)) as relay_url:
            yield Stack(api_url, relay_url, rabbitmq_url)


@pytest.fixture
async def commands(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of this test bound to the command exchange, where the API's would be."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            COMMAND_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, CREATE_COMMAND_KEY)
        yield queue


async def received(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message on ``queue`` (acked); fails the test after 10 s."""
    async with asyncio.timeout(10), queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            return message
    raise AssertionError("the queue ended")

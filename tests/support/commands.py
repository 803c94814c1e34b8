"""Whether the API under test consumes commands (DESIGN §9), for tests that need it."""

from __future__ import annotations

import aio_pika
import pytest

from qahub_contracts.topology import COMMAND_QUEUE

NEEDS_CONSUMER = (
    "needs the API's command consumer (DESIGN §9, issue 11; built by helper api-write-path), "
    "which does not declare qahub.notifications.commands yet"
)


async def skip_without_command_consumer(rabbitmq_url: str) -> None:
    """Skip the test, naming the missing piece, unless the API declared the command queue."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(COMMAND_QUEUE, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            pytest.skip(NEEDS_CONSUMER)

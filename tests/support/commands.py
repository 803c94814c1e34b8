"""Waiting for the API under test to consume commands (DESIGN §9)."""

from __future__ import annotations

import aio_pika

from qahub_contracts.topology import COMMAND_QUEUE
from tests.support.servers import eventually


async def consuming(rabbitmq_url: str) -> bool:
    """The command queue exists and has a consumer (the API connects in the background)."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(COMMAND_QUEUE, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return False
        return (queue.declaration_result.consumer_count or 0) > 0


async def wait_for_command_consumer(rabbitmq_url: str, timeout: float = 15) -> None:
    """Return once the API consumes commands; fail the test after ``timeout`` seconds."""
    await eventually(
        lambda: consuming(rabbitmq_url), timeout=timeout, what="the API to consume commands"
    )

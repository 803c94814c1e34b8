"""Read the event log (the RabbitMQ stream) as a test observer."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aio_pika

from qahub_contracts.events import DomainEvent, decode_event
from qahub_contracts.topology import EVENT_LOG_QUEUE


async def read_log(rabbitmq_url: str, count: int, *, timeout: float = 15) -> list[tuple[str, DomainEvent]]:
    """The first ``count`` messages of the event log as (routing key, event).

    Fails when fewer than ``count`` arrive within ``timeout`` seconds.
    """
    received: list[tuple[str, DomainEvent]] = []
    done = asyncio.Event()
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        queue = await _wait_for_queue(channel, timeout)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            received.append((message.routing_key or "", decode_event(message.body)))
            await message.ack()
            if len(received) >= count:
                done.set()

        await queue.consume(on_message, arguments={"x-stream-offset": "first"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        await connection.close()
    assert len(received) >= count, f"expected {count} events in the log, got {len(received)}"
    return received[:count]


async def _wait_for_queue(
    channel: aio_pika.abc.AbstractChannel, timeout: float
) -> aio_pika.abc.AbstractQueue:
    """The stream queue, once the API's dispatcher has declared it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            if time.monotonic() > deadline:
                raise
            await channel.reopen()
            await asyncio.sleep(0.1)

"""Read the event log (the RabbitMQ stream) as a test observer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aio_pika

from qahub_contracts.events import DomainEvent, decode_event
from qahub_contracts.topology import EVENT_LOG_QUEUE


@dataclass(frozen=True)
class LogEntry:
    """One message of the event log, as a consumer sees it."""

    routing_key: str
    event: DomainEvent
    persistent: bool
    message_id: str | None


async def read_log(rabbitmq_url: str, count: int, *, timeout: float = 15) -> list[LogEntry]:
    """The first ``count`` messages of the event log.

    Fails when fewer than ``count`` arrive within ``timeout`` seconds. A
    consume that races the stream's creation (RabbitMQ 3.10 closes the
    connection with ``stream_not_found``) is retried from the start.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            received = await _read(rabbitmq_url, count, deadline)
        except aio_pika.exceptions.AMQPError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
            continue
        assert len(received) >= count, f"expected {count} events in the log, got {len(received)}"
        return received[:count]


async def _read(rabbitmq_url: str, count: int, deadline: float) -> list[LogEntry]:
    received: list[LogEntry] = []
    done = asyncio.Event()
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        queue = await _wait_for_queue(channel, deadline)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            received.append(
                LogEntry(
                    routing_key=message.routing_key or "",
                    event=decode_event(message.body),
                    persistent=message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id,
                )
            )
            await message.ack()
            if len(received) >= count:
                done.set()

        await queue.consume(on_message, arguments={"x-stream-offset": "first"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(deadline - time.monotonic(), 0.1))
    finally:
        await connection.close()
    return received


async def _wait_for_queue(
    channel: aio_pika.abc.AbstractChannel, deadline: float
) -> aio_pika.abc.AbstractQueue:
    """The stream queue, once the API's dispatcher has declared it."""
    while True:
        try:
            return await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            if time.monotonic() > deadline:
                raise
            await channel.reopen()
            await asyncio.sleep(0.1)

"""Both doors of a create, driven as fast as they answer, and the event log where creates arrive.

HTTP: ``post_all`` POSTs over raw keep-alive connections (wire.PostPool: no httpx
on the hot path, so the client is not what is measured). Commands (DESIGN §9):
``send_commands`` publishes with bare aio-pika and confirms. ``consume_log``
times each event from its ``createdAt`` (just before commit) to its arrival.
Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import aio_pika
import orjson
from wire import PostPool

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.events import decode_event
from qahub_contracts.topology import (
    COMMAND_EXCHANGE,
    COMMAND_QUEUE,
    CREATE_COMMAND_KEY,
    EVENT_LOG_QUEUE,
)

DEADLINE_SECONDS = 300
USERS = 100  # recipients, in turn: u0 … u99


def _body(i: int) -> dict[str, object]:
    return {"type": "bench", "notifiableType": "user", "notifiableId": f"u{i % USERS}"} | {
        "data": {"i": i}
    }


async def post_all(
    port: int, secret: str, count: int, concurrency: int
) -> tuple[float, list[float]]:
    """POST ``count`` creates over ``concurrency`` connections; seconds taken, each latency."""
    token = mint_token(secret, "bench", scope=PUBLISH_SCOPE)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    async with PostPool(port, concurrency, {"Authorization": f"Bearer {token}"}) as pool:

        async def worker() -> None:
            while not queue.empty():
                body = orjson.dumps(_body(queue.get_nowait()))
                status, answer = await pool.post("/api/v1/notifications", body)
                if status != 201:
                    raise RuntimeError(f"POST answered {status}: {answer[:200]!r}")

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), DEADLINE_SECONDS
        )
        elapsed = time.perf_counter() - started
    return elapsed, pool.latencies


async def send_commands(amqp_url: str, secret: str, count: int) -> None:
    """Publish ``count`` commands, persistent and confirmed, up to 500 unconfirmed at once."""
    token = mint_token(secret, "bench", scope=PUBLISH_SCOPE)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(COMMAND_EXCHANGE)

        async def send(i: int) -> None:
            command_id = str(uuid.uuid4())
            message = aio_pika.Message(
                orjson.dumps({"commandId": command_id, "schemaVersion": 1, **_body(i)}),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=command_id,
                headers={"authorization": f"Bearer {token}"},
            )
            await exchange.publish(message, CREATE_COMMAND_KEY, mandatory=True)

        for start in range(0, count, 500):
            await asyncio.gather(*(send(i) for i in range(start, min(count, start + 500))))


async def wait_consuming(amqp_url: str) -> None:
    """Until the API consumes the command queue (30 s at most)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for _ in range(300):
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(COMMAND_QUEUE, passive=True)
                if queue.declaration_result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API does not consume commands")


async def consume_log(amqp_url: str, count: int) -> list[float]:
    """Seconds from each event's createdAt (just before commit) to its arrival here."""
    lags: list[float] = []
    done = asyncio.Event()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            event = decode_event(message.body)
            created: datetime = event.notification.created_at  # type: ignore[union-attr]
            lags.append(time.time() - created.timestamp())
            await message.ack()
            if len(lags) >= count:
                done.set()

        await queue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
    return lags

"""The floor: RabbitMQ alone, the fastest a notification's publish and consume can be."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika
import orjson
from common import ms_percentiles, self_cpu

from qahub_contracts.topology import EVENT_LOG_QUEUE, EXCHANGE, stream_arguments


async def floor(amqp_url: str, count: int = 500, deadline_s: float = 60) -> dict[str, Any]:
    """RabbitMQ alone: a persistent, mandatory, confirmed publish to the exchange, consumed
    from the stream queue; ``count`` sequential round trips."""
    confirms: list[float] = []
    trips: list[float] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            EVENT_LOG_QUEUE, durable=True, arguments=stream_arguments("1h")
        )
        await queue.bind(exchange, "notification.#")
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=100)
        cqueue = await consumer_channel.get_queue(EVENT_LOG_QUEUE)
        arrivals: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.put_nowait((message.body, time.perf_counter()))
            await message.ack()

        await cqueue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.sleep(0.3)
        cpu0 = self_cpu()
        started = time.perf_counter()
        for i in range(count):
            if time.perf_counter() - started > deadline_s:
                break
            body = orjson.dumps({"seq": i, "pad": "x" * 300})
            t0 = time.perf_counter()
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                "notification.created",
                mandatory=True,
            )
            confirms.append(time.perf_counter() - t0)
            while True:
                got, at = await asyncio.wait_for(arrivals.get(), 10)
                if got == body:
                    trips.append(at - t0)
                    break
        cpu = self_cpu() - cpu0
    confirms.sort()
    trips.sort()
    return {
        "round_trips": len(trips),
        "confirm_ms": ms_percentiles(confirms),
        "publish_confirm_consume_ms": ms_percentiles(trips),
        "client_cpu_us_per_trip": round(cpu / max(1, len(trips)) * 1e6, 1),
    }

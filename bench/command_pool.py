"""Commands in place of POSTs (DESIGN §9): the same bodies, published to the command exchange.

`CommandPool` has `PostPool`'s shape (`post(path, body) -> (status, answer)`, `latencies`),
so the load loop that paces POSTs paces commands too and the readers measure the same
`data.t` → SSE frame latency. A command is persistent, mandatory and confirmed; its
"answer" is the broker's confirm (202), not the API's commit, so no commit hop is known.
"""

from __future__ import annotations

import time
import uuid
from typing import Self

import aio_pika
import orjson

from qahub_contracts.topology import COMMAND_EXCHANGE, CREATE_COMMAND_KEY


class CommandPool:
    """One confirmed channel; each publish → confirm is timed."""

    def __init__(self, amqp_url: str, token: str) -> None:
        self._url = amqp_url
        self._auth = f"Bearer {token}"
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self.latencies: list[float] = []

    async def __aenter__(self) -> Self:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.get_exchange(COMMAND_EXCHANGE)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def post(self, _path: str, body: bytes) -> tuple[int, bytes]:
        if self._exchange is None:
            raise RuntimeError("CommandPool.post outside its async with")
        command_id = str(uuid.uuid4())
        command = {"commandId": command_id, "schemaVersion": 1} | orjson.loads(body)
        message = aio_pika.Message(
            orjson.dumps(command),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=command_id,
            headers={"authorization": self._auth},
        )
        started = time.perf_counter()
        await self._exchange.publish(message, CREATE_COMMAND_KEY, mandatory=True, timeout=30)
        self.latencies.append(time.perf_counter() - started)
        return 202, b"{}"

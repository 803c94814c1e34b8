"""The hop breakdown: POST → commit (``createdAt``) → the event log, seen by a plain consumer."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Self

import aio_pika
from common import ms_percentiles
from posting import Sent

from qahub_contracts.events import decode_event
from qahub_contracts.topology import EVENT_LOG_QUEUE


class LogObserver:
    """Consumes the event log from ``next``; the arrival time of each bench seq (hop timing)."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.arrived: dict[int, float] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def __aenter__(self) -> Self:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.time()
            event = decode_event(message.body)
            data = getattr(getattr(event, "notification", None), "data", None)
            if isinstance(data, dict) and "seq" in data:
                self.arrived.setdefault(int(data["seq"]), now)
            await message.ack()

        await queue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.sleep(0.3)  # attached at the head before the first POST
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()


def hops(sent: Sent, observer: LogObserver | None) -> dict[str, Any]:
    """POST → commit (createdAt), commit → event log (outbox + confirm + stream), in ms."""
    out: dict[str, Any] = {}
    commit = sorted(sent.created_at[s] - sent.sent_at[s] for s in sent.created_at)
    if commit:
        out["post_to_commit_ms"] = ms_percentiles(commit)
    if observer is not None:
        log = sorted(
            observer.arrived[s] - sent.created_at[s]
            for s in observer.arrived
            if s in sent.created_at
        )
        whole = sorted(observer.arrived[s] - sent.sent_at[s] for s in observer.arrived)
        if log:
            out["commit_to_log_ms"] = ms_percentiles(log)
        out["post_to_log_ms"] = ms_percentiles(whole)
    return out

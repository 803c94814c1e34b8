"""Declaring the broker topology of ``topology.py``: one implementation for every declarer."""

from __future__ import annotations

import logging

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from qahub_contracts.topology import BINDING_KEY, EVENT_LOG_QUEUE, EXCHANGE, stream_arguments

__all__ = ["declare_topology"]

log = logging.getLogger("qahub_contracts.broker")


async def declare_topology(
    connection: AbstractConnection, max_age: str, *, replicas: int = 1
) -> None:
    """Declare the exchange, the event log (``replicas`` copies) and its binding (idempotent).

    A stream that already exists with other arguments is used as it is, with a
    warning (the broker refuses to redeclare it and closes the channel).
    """
    channel = await connection.channel()
    await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    try:
        queue = await channel.declare_queue(
            EVENT_LOG_QUEUE, durable=True, arguments=stream_arguments(max_age, replicas=replicas)
        )
    except ChannelPreconditionFailed:
        log.warning("%s exists with other arguments; using it as it is", EVENT_LOG_QUEUE)
        channel = await connection.channel()
        queue = await channel.declare_queue(EVENT_LOG_QUEUE, passive=True)
    await queue.bind(EXCHANGE, BINDING_KEY)
    await channel.close()

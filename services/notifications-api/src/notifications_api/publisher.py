"""The API's side of RabbitMQ: declare the topology, publish with confirms.

Every publish is persistent, ``mandatory`` and confirmed; an unroutable
message (a ``basic.return``) is a failure, not a silent success (DESIGN §8).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Self

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from qahub_contracts.amqp_endpoints import BrokerEndpoints
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EXCHANGE

__all__ = ["PUBLISH_ERRORS", "Publisher"]

PUBLISH_ERRORS = (*CONNECTION_EXCEPTIONS, TimeoutError)
"""Failures of a publish after which the outbox row stays pending."""


class Publisher:
    """One confirmed channel to the ``qahub.notifications`` exchange."""

    def __init__(self, connection: AbstractConnection, exchange: AbstractExchange) -> None:
        self._connection = connection
        self._exchange = exchange

    @classmethod
    async def connect(
        cls, endpoints: BrokerEndpoints, *, max_age: str, replicas: int = 1, timeout: float = 5.0
    ) -> Self:
        """Connect to the first node that answers, declare the topology, open a confirm channel.

        Raises:
            Any of :data:`PUBLISH_ERRORS` when no node can be reached.
        """
        connection = await endpoints.connect_aio_pika(name="notifications-api", timeout=timeout)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await declare_topology(connection, max_age, replicas=replicas)
            exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        except BaseException:
            with contextlib.suppress(*PUBLISH_ERRORS):
                await asyncio.wait_for(connection.close(), timeout)
            raise
        return cls(connection, exchange)

    @property
    def is_open(self) -> bool:
        return not self._connection.is_closed

    async def publish(
        self,
        body: bytes,
        *,
        routing_key: str,
        message_id: str,
        timestamp: datetime,
        timeout: float,
    ) -> None:
        """Publish one event and wait for the broker's confirm.

        Raises:
            aio_pika.exceptions.PublishError: the message was unroutable (returned).
            aio_pika.exceptions.DeliveryError: the broker nacked it.
            TimeoutError: no confirm within ``timeout``.
        """
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=routing_key,
            timestamp=timestamp,
            app_id="notifications-api",
        )
        await self._exchange.publish(message, routing_key, mandatory=True, timeout=timeout)

    async def close(self) -> None:
        await self._connection.close()

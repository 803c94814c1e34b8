"""The API's link to RabbitMQ: declare the topology, publish with confirms, notice a loss.

Every publish is persistent, ``mandatory`` and confirmed; an unroutable
message (a ``basic.return``) is a failure, not a silent success (DESIGN §8).
A connection the broker (or the network) closes is noticed at once through
aio-pika's close callback, not at the next publish: :attr:`Publisher.is_open`
turns false and ``on_lost`` is called, so ``/readyz`` reports the broker down
and the dispatcher reconnects without waiting for an event to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
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

    def __init__(
        self,
        connection: AbstractConnection,
        exchange: AbstractExchange,
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        self._connection = connection
        self._exchange = exchange
        self._on_lost = on_lost
        self._open = True
        connection.close_callbacks.add(self._closed)

    @classmethod
    async def connect(
        cls,
        endpoints: BrokerEndpoints,
        *,
        max_age: str,
        on_lost: Callable[[BaseException | None], None],
        replicas: int = 1,
        timeout: float = 5.0,
    ) -> Self:
        """Connect to the first node that answers, declare the topology, open a confirm channel.

        ``on_lost(reason)`` is called once if the connection closes other than
        by :meth:`close`.

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
        return cls(connection, exchange, on_lost)

    @property
    def is_open(self) -> bool:
        """False from the moment the connection closed, whoever closed it."""
        return self._open and not self._connection.is_closed

    def _closed(self, _sender: object, reason: BaseException | None) -> None:
        if self._open:
            self._open = False
            self._on_lost(reason)

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
            Any of :data:`PUBLISH_ERRORS` when the connection is gone.
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

    async def close(self, timeout: float) -> None:
        """Close the connection (a blackholed one is given up after ``timeout``)."""
        self._open = False
        with contextlib.suppress(*PUBLISH_ERRORS):
            await asyncio.wait_for(self._connection.close(), timeout)

"""The FastStream app of the commands door: the subscriber, its topology, its lifetime.

:func:`command_broker` builds the ``RabbitBroker`` with one subscriber on the
quorum queue ``qahub.notifications.commands`` (a bounded prefetch; ack after
the handler returns, that is after the commit; an unexpected error returns the
command to the queue, whose delivery limit dead-letters one that keeps
failing). Refusals reach FastStream's ``ExceptionMiddleware``, which
dead-letters them and answers ``reply_to`` (:meth:`~notifications_api.commands.Commands.refuse`).
The same factory, without a handler, gives ``docs/asyncapi.json`` its command channel.

:class:`CommandSubscription` is born and stopped in the API's lifespan: it
connects in the background (an API starts while the broker is away) and
declares the dead-letter exchange and queue before consuming.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Final, cast

from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from faststream import AckPolicy, ExceptionMiddleware
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitMessage,
    RabbitQueue,
)
from faststream.security import BaseSecurity
from pydantic import ValidationError

from notifications_api.commands import DEAD_LETTERS, Commands, refusal_of_body
from notifications_api.errors import NotificationsError
from qahub_contracts.amqp_endpoints import BrokerEndpoints
from qahub_contracts.commands import CreateNotificationCommand
from qahub_contracts.topology import (
    COMMAND_DEAD_QUEUE,
    COMMAND_EXCHANGE,
    COMMAND_QUEUE,
    CREATE_COMMAND_KEY,
    command_queue_arguments,
)

__all__ = ["COMMANDS", "CommandSubscription", "command_broker"]

STOP_SECONDS: Final = 10.0  # longest wait for FastStream to stop on shutdown

log = logging.getLogger("notifications_api.commands")

COMMANDS: Final = RabbitQueue(  # type: ignore[call-overload]
    COMMAND_QUEUE,
    queue_type=QueueType.QUORUM,
    durable=True,
    arguments=command_queue_arguments(),
    routing_key=CREATE_COMMAND_KEY,
)
_EXCHANGE: Final = RabbitExchange(COMMAND_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
_MAX_BACKOFF: Final = 5.0


def command_broker(
    commands: Commands | None,
    *,
    url: str | None = None,
    security: BaseSecurity | None = None,
    prefetch: int = 64,
    endpoints: BrokerEndpoints | None = None,
) -> RabbitBroker:
    """The broker and its ``notification.create`` subscriber (``commands`` handles them)."""
    errors = ExceptionMiddleware()

    def _handler() -> Commands:
        if commands is None:  # pragma: no cover - a broker built for the document only
            raise RuntimeError("this command broker documents the channel; it has no handler")
        return commands

    @errors.add_handler(ValidationError, publish=True)
    @errors.add_handler(json.JSONDecodeError, publish=True)
    async def unreadable(exc: Exception, message: RabbitMessage) -> dict[str, Any]:
        code, reason = refusal_of_body(message.body, exc)
        return await _handler().refuse(message, code, reason)

    @errors.add_handler(NotificationsError, publish=True)
    async def refused(exc: NotificationsError, message: RabbitMessage) -> dict[str, Any]:
        return await _handler().refuse(message, exc.code, str(exc) or exc.code.value)

    broker = RabbitBroker(
        url,
        security=security,
        middlewares=[errors],
        log_level=logging.DEBUG,  # one line per command would double the access log
        client_properties=cast("Any", {"connection_name": "notifications-api commands"}),
        graceful_timeout=10.0,
        # Its node gone, the robust connection reconnects to the next one (DESIGN §12).
        on_close=[endpoints.fail_over] if endpoints is not None else None,
    )

    @broker.subscriber(
        COMMANDS,
        _EXCHANGE,
        channel=Channel(prefetch_count=prefetch),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="notification.create",
        description="Create a notification, exactly as POST /api/v1/notifications "
        "(header authorization: Bearer <jwt>; commandId is the Idempotency-Key). "
        "With reply_to, answered with {ok, notification} or {ok: false, error}.",
    )
    async def create_notification(
        command: CreateNotificationCommand, message: RabbitMessage
    ) -> dict[str, Any]:
        return await _handler().create(command, message.headers)

    if commands is not None:
        commands.broker = broker
    return broker


class CommandSubscription:
    """Consumes commands from start to stop; connects (and reconnects) in the background."""

    def __init__(self, commands: Commands, endpoints: BrokerEndpoints, prefetch: int) -> None:
        self._commands = commands
        self._endpoints = endpoints
        self._prefetch = prefetch
        self._url = endpoints.ordered()[0]
        self.broker = self._broker_on(self._url)
        self._task: asyncio.Task[None] | None = None

    def _broker_on(self, url: str) -> RabbitBroker:
        tls = self._endpoints.ssl_context(url)
        security = BaseSecurity(ssl_context=tls) if tls is not None else None
        return command_broker(
            self._commands,
            url=url,
            security=security,
            prefetch=self._prefetch,
            endpoints=self._endpoints,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="command-subscription")

    async def stop(self) -> None:
        """Stop consuming; a command being handled finishes (its ack follows its commit)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Bounded: a stop that hangs on a dead connection must not hold the API's
        # shutdown; an unacked command is redelivered and deduplicated by commandId.
        with contextlib.suppress(*CONNECTION_EXCEPTIONS, TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await self.broker.stop()

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            try:
                url = await self._endpoints.first_answering()  # DESIGN §12: any node
                if url != self._url:  # (this broker has not connected yet: nothing to close)
                    self._url, self.broker = url, self._broker_on(url)
                await self.broker.connect()
                await _declare_dead_letters(self.broker)
                await self.broker.start()
            except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
                log.warning("command queue unreachable (%s); retrying", type(exc).__name__)
                with contextlib.suppress(*CONNECTION_EXCEPTIONS, TimeoutError):
                    await self.broker.stop()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            log.info("consuming commands from %s", COMMAND_QUEUE)
            return


async def _declare_dead_letters(broker: RabbitBroker) -> None:
    """The dead-letter exchange and the queue it feeds, before the first command arrives."""
    exchange = await broker.declare_exchange(DEAD_LETTERS)
    queue = await broker.declare_queue(
        RabbitQueue(COMMAND_DEAD_QUEUE, queue_type=QueueType.QUORUM, durable=True)
    )
    await queue.bind(exchange)

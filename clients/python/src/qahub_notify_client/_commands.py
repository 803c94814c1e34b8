"""Commands over RabbitMQ (DESIGN §9): ``AsyncCommandSender`` and its blocking twin.

Needs the ``commands`` extra (aio-pika). A command is published persistent and
``mandatory`` to ``qahub.notifications.commands`` on a channel with publisher
confirms, so ``send`` returns only once the broker has the command in the queue the
API consumes; a command nobody would receive (the API never declared its queue),
a broker nack or a lost connection raise :class:`Unavailable`. The ``commandId`` is
the Idempotency-Key: sending the same one again (after a timeout, say) creates
nothing new. ``request`` also waits for the API's reply on an exclusive queue of
this sender and returns the notification, or raises the error REST would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from uuid import UUID

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from qahub_contracts.api import Notification, Suppressed
from qahub_contracts.commands import CommandSucceeded, CreateNotificationCommand, decode_reply
from qahub_contracts.topology import (
    AUTHORIZATION_HEADER,
    COMMAND_CONTENT_TYPE,
    COMMAND_EXCHANGE,
    COMMAND_SCHEMA_VERSION,
    CREATE_COMMAND_KEY,
)
from qahub_notify_client._auth import AsyncToken, Token, TokenSource
from qahub_notify_client._errors import Unavailable, ValidationFailed, error_from_code

__all__ = ["AsyncCommandSender", "CommandSender"]

T = TypeVar("T")

_LOST: Final = (
    aio_pika.exceptions.AMQPError,
    aio_pika.exceptions.ChannelInvalidStateError,  # a RuntimeError: the channel is reopening
    ConnectionError,
    TimeoutError,
)


def _command(
    to: str, type_: str, data: str | dict[str, Any], command_id: UUID | None
) -> CreateNotificationCommand:
    try:
        return CreateNotificationCommand(
            command_id=command_id or uuid.uuid4(),
            schema_version=COMMAND_SCHEMA_VERSION,
            type=type_,
            notifiable_type="user",
            notifiable_id=to,
            data=data,
        )
    except ValidationError as exc:  # refused here: the API would dead-letter it unread
        raise ValidationFailed(str(exc), status=422, code="validation_error") from None


class AsyncCommandSender:
    """Publishes ``notification.create`` commands for a service (asyncio).

    Connects on first use and reconnects after the broker goes away; use it with
    ``async with`` or call :meth:`close`. ``token`` is a bearer token or a callable
    (asked for each command) with the same rules as REST.
    """

    def __init__(self, rabbitmq_url: str, token: AsyncToken, *, timeout: float = 10.0) -> None:
        self._url = rabbitmq_url
        self._token = TokenSource(token)
        self._timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._replies: AbstractQueue | None = None
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._lock = asyncio.Lock()

    async def send(
        self, to: str, type: str, data: str | dict[str, Any], command_id: UUID | None = None
    ) -> UUID:
        """Publish one command; returns its ``commandId`` once the broker confirmed it.

        Raises:
            ValidationFailed: the command breaks REST's rules (nothing is published).
            Unavailable: the broker refused, did not confirm in time, or nobody
                consumes commands.
        """
        command = _command(to, type, data, command_id)
        await self._publish(command, None)
        return command.command_id

    async def request(
        self,
        to: str,
        type: str,
        data: str | dict[str, Any],
        command_id: UUID | None = None,
        *,
        timeout: float | None = None,
    ) -> Notification | Suppressed:
        """Publish one command and wait for the API's reply; returns the notification
        (or :class:`Suppressed` when the recipient turned this type off: DESIGN §13).

        Raises:
            QaHubError: the subclass for the reply's error code (``Forbidden``...), or
                ``Unavailable`` when no reply came within ``timeout`` (the command may
                still be carried out: send it again with the same ``command_id``).
        """
        command = _command(to, type, data, command_id)
        correlation_id = str(uuid.uuid4())
        reply = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = reply
        try:
            await self._publish(command, correlation_id)
            body = await asyncio.wait_for(reply, timeout or self._timeout)
        except TimeoutError:
            raise Unavailable("no reply from the API in time", code="unavailable") from None
        finally:
            self._waiting.pop(correlation_id, None)
        answer = decode_reply(body)
        if isinstance(answer, CommandSucceeded):
            return answer.notification or Suppressed()
        raise error_from_code(answer.error.code, answer.error.message)

    async def _publish(
        self, command: CreateNotificationCommand, correlation_id: str | None
    ) -> None:
        exchange = await self._ready(want_replies=correlation_id is not None)
        message = aio_pika.Message(
            command.model_dump_json().encode(),
            content_type=COMMAND_CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(command.command_id),
            headers={AUTHORIZATION_HEADER: f"Bearer {await self._token.acurrent()}"},
            correlation_id=correlation_id,
            reply_to=self._replies.name if correlation_id and self._replies else None,
        )
        try:
            await exchange.publish(
                message, CREATE_COMMAND_KEY, mandatory=True, timeout=self._timeout
            )
        except aio_pika.exceptions.PublishError:
            raise Unavailable(
                "the broker has no queue for commands: is the notifications API running?",
                code="unavailable",
            ) from None
        except _LOST as exc:
            raise Unavailable(f"command not confirmed: {exc!r}", code="unavailable") from exc

    async def _ready(self, *, want_replies: bool) -> AbstractExchange:
        async with self._lock:
            try:
                if self._exchange is None:
                    self._connection = await aio_pika.connect_robust(
                        self._url, timeout=self._timeout
                    )
                    self._channel = await self._connection.channel(on_return_raises=True)
                    self._exchange = await self._channel.declare_exchange(
                        COMMAND_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
                    )
                if want_replies and self._replies is None and self._channel is not None:
                    await self._listen(self._channel)
            except (*_LOST, OSError) as exc:
                raise Unavailable(f"broker unreachable: {exc!r}", code="unavailable") from exc
            return self._exchange

    async def _listen(self, channel: AbstractChannel) -> None:
        self._replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self._replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self._waiting.get(message.correlation_id or "")
        if waiting is not None and not waiting.done():
            waiting.set_result(message.body)

    async def close(self) -> None:
        """Close the broker connection (commands already confirmed are safe)."""
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._exchange = self._replies = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class CommandSender:
    """The blocking twin of :class:`AsyncCommandSender` (its own event loop in a thread)."""

    def __init__(self, rabbitmq_url: str, token: Token, *, timeout: float = 10.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qahub-command-sender", daemon=True
        )
        self._thread.start()
        self._sender = AsyncCommandSender(rabbitmq_url, token, timeout=timeout)

    def send(
        self, to: str, type: str, data: str | dict[str, Any], command_id: UUID | None = None
    ) -> UUID:
        """See :meth:`AsyncCommandSender.send`."""
        return self._run(self._sender.send(to, type, data, command_id))

    def request(
        self,
        to: str,
        type: str,
        data: str | dict[str, Any],
        command_id: UUID | None = None,
        *,
        timeout: float | None = None,
    ) -> Notification | Suppressed:
        """See :meth:`AsyncCommandSender.request`."""
        return self._run(self._sender.request(to, type, data, command_id, timeout=timeout))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def close(self) -> None:
        """Close the connection and stop the sender's thread."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._run(self._sender.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

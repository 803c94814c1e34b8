"""Commands over RabbitMQ (DESIGN §9): ``AsyncCommandSender`` and its blocking twin.

Needs the ``commands`` extra (aio-pika). The broker is found as the services find
it (``_broker_link``: a node list with fail-over, TLS). A command
(``_command_message``) is published ``mandatory`` on a channel with publisher
confirms, so ``send`` returns only once the broker has the command in the queue the
API consumes; a command nobody would receive (the API never declared its queue)
raises :class:`Unavailable`. The ``commandId`` is the Idempotency-Key: sending the
same one again (after a timeout, say) creates nothing new, which is why a publish
that loses its connection, is nacked or is not confirmed in time is published once
more, on a new connection (another node first), before :class:`Unavailable`.
``request`` also waits for the API's reply on an exclusive queue of this sender
and returns the notification, or raises the error REST would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from qahub_contracts.api import Notification, Suppressed
from qahub_contracts.commands import CommandSucceeded, CreateNotificationCommand, decode_reply
from qahub_contracts.topology import COMMAND_EXCHANGE, CREATE_COMMAND_KEY
from qahub_notify_client._auth import AsyncToken, Token, TokenSource
from qahub_notify_client._broker_link import BrokerLink, StrPath, endpoints, tls_files
from qahub_notify_client._command_message import LOST, command_of, message_of
from qahub_notify_client._errors import Unavailable, error_from_code

__all__ = ["AsyncCommandSender", "CommandSender"]

T = TypeVar("T")


class AsyncCommandSender:
    """Publishes ``notification.create`` commands for a service (asyncio).

    ``rabbitmq_url`` is read as the services read ``RABBITMQ_URL``: one node or
    several, comma-separated, ``amqp://`` or ``amqps://``; the ``rabbitmq_*_file``
    options are their ``RABBITMQ_CA_FILE``, ``RABBITMQ_CERT_FILE`` and
    ``RABBITMQ_KEY_FILE``. Connects on first use to the first node that answers and
    moves to another when its node goes away; use it with ``async with`` or call
    :meth:`close`. ``token`` is a bearer token or a callable (asked for each
    command) with the same rules as REST.

    Raises:
        ValueError: ``rabbitmq_url`` names no usable node, or the TLS options do not
            fit it (a key without its certificate, files without an ``amqps://`` node).
        OSError: a TLS file cannot be read or is not PEM (:class:`ssl.SSLError`).
    """

    def __init__(
        self,
        rabbitmq_url: str,
        token: AsyncToken,
        *,
        timeout: float = 10.0,
        rabbitmq_ca_file: StrPath | None = None,
        rabbitmq_cert_file: StrPath | None = None,
        rabbitmq_key_file: StrPath | None = None,
    ) -> None:
        tls = tls_files(rabbitmq_ca_file, rabbitmq_cert_file, rabbitmq_key_file)
        self._link = BrokerLink(endpoints(rabbitmq_url, tls), timeout=timeout)
        self._token = TokenSource(token)
        self._timeout = timeout
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
        command = command_of(to, type, data, command_id)
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
        command = command_of(to, type, data, command_id)
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
        # A lost, nacked or unconfirmed publish goes once more on a new connection
        # (another node first): its commandId makes a second copy harmless.
        for attempt in range(2):
            exchange = await self._ready(want_replies=correlation_id is not None)
            reply_to = self._replies.name if correlation_id and self._replies else None
            token = await self._token.acurrent()
            message = message_of(command, token, correlation_id, reply_to)
            try:
                await exchange.publish(
                    message, CREATE_COMMAND_KEY, mandatory=True, timeout=self._timeout
                )
            except aio_pika.exceptions.PublishError:
                raise Unavailable(
                    "the broker has no queue for commands: is the notifications API running?",
                    code="unavailable",
                ) from None
            except LOST as exc:
                await self._forget(exchange)
                if attempt:
                    msg = f"command not confirmed: {exc!r}"
                    raise Unavailable(msg, code="unavailable") from exc
            else:
                return

    async def _ready(self, *, want_replies: bool) -> AbstractExchange:
        async with self._lock:
            try:
                channel = await self._link.channel()
                exchange = self._exchange
                if channel is not self._channel or exchange is None:
                    exchange = await channel.declare_exchange(
                        COMMAND_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
                    )
                    self._channel, self._exchange, self._replies = channel, exchange, None
                if want_replies and self._replies is None:
                    await self._listen(channel)
            except (*LOST, OSError) as exc:
                raise Unavailable(f"broker unreachable: {exc!r}", code="unavailable") from exc
            return exchange

    async def _forget(self, exchange: AbstractExchange) -> None:
        """Drop the connection ``exchange`` was published on, unless already replaced."""
        async with self._lock:
            if exchange is self._exchange:
                await self._link.drop()
                self._channel = self._exchange = self._replies = None

    async def _listen(self, channel: AbstractChannel) -> None:
        self._replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self._replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self._waiting.get(message.correlation_id or "")
        if waiting is not None and not waiting.done():
            waiting.set_result(message.body)

    async def close(self) -> None:
        """Close the broker connection (commands already confirmed are safe)."""
        async with self._lock:
            await self._link.close()
            self._channel = self._exchange = self._replies = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class CommandSender:
    """The blocking twin of :class:`AsyncCommandSender` (its own event loop in a thread).

    Takes the same arguments and raises the same errors.
    """

    def __init__(
        self,
        rabbitmq_url: str,
        token: Token,
        *,
        timeout: float = 10.0,
        rabbitmq_ca_file: StrPath | None = None,
        rabbitmq_cert_file: StrPath | None = None,
        rabbitmq_key_file: StrPath | None = None,
    ) -> None:
        self._sender = AsyncCommandSender(
            rabbitmq_url,
            token,
            timeout=timeout,
            rabbitmq_ca_file=rabbitmq_ca_file,
            rabbitmq_cert_file=rabbitmq_cert_file,
            rabbitmq_key_file=rabbitmq_key_file,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="qahub-command-sender", daemon=True
        )
        self._thread.start()

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

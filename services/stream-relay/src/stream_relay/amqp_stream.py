"""A minimal AMQP 0.9.1 consumer of one stream queue: the relay's hot path (DESIGN §6, §8).

Why not aio-pika here: it routes every frame through an ``asyncio.Queue``,
builds pamqp objects, two tasks and an ``IncomingMessage`` per message, which
capped start-up over a long log (the A/B figures: docs/adr/0003). This module
reads one connection with an :class:`asyncio.Protocol` and hands each complete
message (parsed by :mod:`stream_relay.amqp_frames`) to a plain synchronous
callback, in delivery order, straight from ``data_received``: no task, no
queue, no await per message.

Only what consuming a stream needs is implemented: the handshake (PLAIN),
one channel, ``basic.qos``, ``basic.consume`` with arguments, deliveries,
``basic.ack`` (``multiple``), heartbeats, and the broker closing things
(``connection.close``, ``channel.close``, ``basic.cancel``), each of which ends
the subscription with :class:`SubscriptionLost`. Rare frames are (un)marshalled
with pamqp. It never rejects or nacks (that closes the connection on RabbitMQ
3.10). Declaring the topology stays with
aio-pika (one short connection): it is not on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from pamqp import base, commands, frame, heartbeat
from pamqp.common import FieldTable
from pamqp.exceptions import UnmarshalingException
from yarl import URL

from stream_relay.amqp_frames import Delivery, FrameReader, MalformedFrame

__all__ = ["StreamProtocol", "StreamSubscription", "SubscriptionLost"]

_FRAME_END: Final = 0xCE
_METHOD: Final = 1
_CHANNEL: Final = 1
_ACK = struct.Struct(">BHIHHQBB")  # frame head, class, method, delivery tag, multiple, frame end
_Reply = TypeVar("_Reply", bound=base.Frame)


class SubscriptionLost(ConnectionError):
    """The connection, the channel or the consumer ended (broker or network)."""


class StreamProtocol(asyncio.Protocol):
    """One connection: deliveries to ``on_delivery``, replies to :meth:`call`, else a loss."""

    def __init__(self, on_delivery: Callable[[Delivery], None]) -> None:
        self.frames = FrameReader(on_delivery, self._other)
        self._transport: asyncio.Transport | None = None
        self._rpc: asyncio.Queue[base.Frame] = asyncio.Queue()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self._transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(SubscriptionLost(f"connection lost: {exc or 'closed'}"))

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise SubscriptionLost("connection closed")
        self._transport.write(data)

    def send(self, method: base.Frame, channel: int = _CHANNEL) -> None:
        self.write(frame.marshal(method, channel))

    async def call(
        self, method: base.Frame | None, reply: type[_Reply], channel: int = _CHANNEL
    ) -> _Reply:
        """Send ``method`` and wait for ``reply`` (the handshake and set-up steps)."""
        if method is not None:
            self.send(method, channel)
        getter: asyncio.Future[base.Frame] = asyncio.ensure_future(self._rpc.get())
        waiting: list[asyncio.Future[Any]] = [getter, self.lost]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            self.lost.result()  # raises the loss
        answer = getter.result()
        if not isinstance(answer, reply):
            raise SubscriptionLost(f"expected {reply.__name__}, got {answer!r}")
        return answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _fail(self, exc: Exception) -> None:
        if not self.lost.done():
            self.lost.set_exception(exc)
            self.lost.exception()  # retrieved: a loss nobody awaits is not an error
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            self.frames.feed(data)
        except (
            SubscriptionLost,
            MalformedFrame,
            UnmarshalingException,
            struct.error,
            IndexError,
        ) as exc:
            self._fail(exc if isinstance(exc, SubscriptionLost) else SubscriptionLost(repr(exc)))

    def _other(self, raw: bytes) -> None:
        _, channel, method = frame.unmarshal(raw)
        if isinstance(method, commands.Connection.Close):
            self.send(commands.Connection.CloseOk(), 0)
            raise SubscriptionLost(f"broker closed the connection: {method.reply_text}")
        if isinstance(method, commands.Channel.Close):
            self.send(commands.Channel.CloseOk(), channel)
            raise SubscriptionLost(f"broker closed the channel: {method.reply_text}")
        if isinstance(method, commands.Basic.Cancel):
            raise SubscriptionLost("broker cancelled the consumer")
        if isinstance(method, commands.Connection.Blocked | commands.Connection.Unblocked):
            return  # only publishers are blocked
        if isinstance(method, base.Frame):
            self._rpc.put_nowait(method)


class StreamSubscription:
    """One connection, one channel, one consumer of a stream queue.

    ``on_delivery`` is called synchronously for every message, in delivery
    order; acknowledge with :meth:`ack`. The queue is declared passively just
    before consuming (a missing queue fails the open). :attr:`lost` completes (with
    :class:`SubscriptionLost`) when the broker or the network ends it.
    """

    def __init__(self, protocol: StreamProtocol, heartbeat_seconds: int) -> None:
        self._protocol = protocol
        self._heartbeat = heartbeat_seconds
        self._watchdog: asyncio.Task[None] | None = None
        if heartbeat_seconds:
            self._watchdog = asyncio.create_task(self._beat(), name="amqp-stream-heartbeat")

    @property
    def lost(self) -> asyncio.Future[None]:
        return self._protocol.lost

    @classmethod
    async def open(
        cls,
        url: str,
        queue: str,
        *,
        prefetch: int,
        arguments: FieldTable,
        on_delivery: Callable[[Delivery], None],
        connection_name: str,
        tls: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> StreamSubscription:
        """Connect, open a channel, set the prefetch, consume.

        ``amqps://`` connects with ``tls`` (the system's CAs when ``None``).

        Raises:
            SubscriptionLost: the broker refused a step or closed the connection.
            OSError, TimeoutError: it could not be reached in time.
        """
        address = URL(url)
        loop = asyncio.get_running_loop()
        if address.scheme == "amqps" and tls is None:
            tls = ssl.create_default_context()
        elif address.scheme != "amqps":
            tls = None
        port = address.port or (5671 if tls else 5672)
        protocol = StreamProtocol(on_delivery)
        async with asyncio.timeout(timeout):
            await loop.create_connection(
                lambda: protocol, address.host or "localhost", port, ssl=tls
            )
            try:
                beat = await cls._handshake(protocol, address, connection_name)
                await protocol.call(commands.Channel.Open(), commands.Channel.OpenOk)
                qos = commands.Basic.Qos(prefetch_count=prefetch)
                await protocol.call(qos, commands.Basic.QosOk)
                declare = commands.Queue.Declare(queue=queue, passive=True)
                await protocol.call(declare, commands.Queue.DeclareOk)
                consume = commands.Basic.Consume(queue=queue, arguments=arguments)
                await protocol.call(consume, commands.Basic.ConsumeOk)
            except BaseException:
                protocol.close()
                raise
        return cls(protocol, beat)

    @staticmethod
    async def _handshake(protocol: StreamProtocol, address: URL, name: str) -> int:
        protocol.write(b"AMQP\x00\x00\x09\x01")
        await protocol.call(None, commands.Connection.Start, 0)
        user, password = address.user or "guest", address.password or "guest"
        capabilities: FieldTable = {
            "consumer_cancel_notify": True,
            "authentication_failure_close": True,
        }
        start_ok = commands.Connection.StartOk(
            client_properties={"connection_name": name, "capabilities": capabilities},
            mechanism="PLAIN",
            response=f"\0{user}\0{password}",
        )
        tune: commands.Connection.Tune = await protocol.call(start_ok, commands.Connection.Tune, 0)
        wanted = address.query.get("heartbeat")
        beat = int(wanted) if wanted is not None else tune.heartbeat
        tune_ok = commands.Connection.TuneOk(
            channel_max=tune.channel_max, frame_max=tune.frame_max, heartbeat=beat
        )
        protocol.send(tune_ok, 0)
        vhost = address.path[1:] or "/"
        opening = commands.Connection.Open(virtual_host=vhost)
        await protocol.call(opening, commands.Connection.OpenOk, 0)
        return beat

    def ack(self, delivery_tag: int, *, multiple: bool = True) -> None:
        """``basic.ack`` up to ``delivery_tag``; never a reject or nack (DESIGN §8)."""
        self._protocol.write(
            _ACK.pack(_METHOD, _CHANNEL, 13, 60, 80, delivery_tag, int(multiple), _FRAME_END)
        )

    async def _beat(self) -> None:
        """Send a heartbeat every half interval; give up after two silent intervals."""
        interval = self._heartbeat / 2
        seen, silent = self._protocol.frames.received, 0.0
        while not self.lost.done():
            await asyncio.sleep(interval)
            with contextlib.suppress(SubscriptionLost):
                self._protocol.write(frame.marshal(heartbeat.Heartbeat(), 0))
            silent = 0.0 if self._protocol.frames.received != seen else silent + interval
            seen = self._protocol.frames.received
            if silent >= 2 * self._heartbeat:
                self._protocol._fail(SubscriptionLost("missed heartbeats"))  # noqa: SLF001

    async def close(self) -> None:
        """Close the connection (politely, bounded in time)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        protocol = self._protocol
        if not protocol.lost.done():
            with contextlib.suppress(Exception):
                close = commands.Connection.Close(reply_code=200, reply_text="bye")
                async with asyncio.timeout(1):
                    await protocol.call(close, commands.Connection.CloseOk, 0)
        protocol.close()

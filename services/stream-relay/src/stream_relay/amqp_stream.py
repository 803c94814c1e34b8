"""A minimal AMQP 0.9.1 consumer of one stream queue: the relay's hot path (DESIGN §6, §8).

aio-pika spends ~100 µs of CPU per delivery here (frames through an
``asyncio.Queue``, pamqp objects, two tasks and an ``IncomingMessage`` per
message), which caps start-up over a long log at a few thousand events/s.
This module reads one connection with an :class:`asyncio.Protocol` and hands
each complete message to a plain synchronous callback, in delivery order,
straight from ``data_received``: no task, no queue, no await per message.

Only what consuming a stream needs is implemented: the handshake (PLAIN),
one channel, ``basic.qos``, ``basic.consume`` with arguments, deliveries,
``basic.ack`` (``multiple``), heartbeats, and the broker closing things
(``connection.close``, ``channel.close``, ``basic.cancel``), each of which ends
the subscription with :class:`SubscriptionLost`. Rare frames are (un)marshalled
with pamqp; deliveries are parsed by hand. It never rejects or nacks (that
closes the connection on RabbitMQ 3.10). Declaring the topology stays with
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
from pamqp.decode import field_table
from pamqp.exceptions import UnmarshalingException
from yarl import URL

__all__ = ["Delivery", "StreamSubscription", "SubscriptionLost"]

_FRAME_END: Final = 0xCE
_METHOD, _HEADER, _BODY, _HEARTBEAT = 1, 2, 3, 8
_DELIVER: Final = (60 << 16) | 60
_CHANNEL: Final = 1
_HEAD = struct.Struct(">BHI")
_CLASS_METHOD = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_ACK = struct.Struct(">BHIHHQBB")  # frame head, class, method, delivery tag, multiple, frame end
_INT_TYPES: Final = {
    ord("b"): struct.Struct(">b"),
    ord("B"): struct.Struct(">B"),
    ord("s"): struct.Struct(">h"),
    ord("u"): struct.Struct(">H"),
    ord("I"): struct.Struct(">i"),
    ord("i"): struct.Struct(">I"),
    ord("l"): struct.Struct(">q"),
    ord("L"): struct.Struct(">Q"),
}
_PROPERTY_MESSAGE_ID: Final = 1 << 7
_Reply = TypeVar("_Reply", bound=base.Frame)


class SubscriptionLost(ConnectionError):
    """The connection, the channel or the consumer ended (broker or network)."""


class Delivery:
    """One message of the stream: its delivery tag, headers, ``message_id`` and body."""

    __slots__ = ("body", "delivery_tag", "headers", "message_id")

    def __init__(
        self, delivery_tag: int, headers: dict[str, Any], message_id: str | None, body: bytes
    ) -> None:
        self.delivery_tag = delivery_tag
        self.headers = headers
        self.message_id = message_id
        self.body = body


def _headers(data: bytearray, start: int, end: int) -> dict[str, Any]:
    """A field table's string and integer fields (the rest, rare here, through pamqp)."""
    found: dict[str, Any] = {}
    pos = start
    while pos < end:
        size = data[pos]
        name = data[pos + 1 : pos + 1 + size].decode()
        kind = data[pos + 1 + size]
        pos += 2 + size
        if kind == 0x53:  # "S": long string
            (length,) = _U32.unpack_from(data, pos)
            found[name] = data[pos + 4 : pos + 4 + length].decode()
            pos += 4 + length
            continue
        number = _INT_TYPES.get(kind)
        if number is None:
            table: FieldTable = field_table(bytes(data[start - 4 : end]))[1]
            return dict(table)
        found[name] = number.unpack_from(data, pos)[0]
        pos += number.size
    return found


def _properties(data: bytearray, pos: int) -> tuple[dict[str, Any], str | None]:
    """``headers`` and ``message_id`` of a basic content header's properties at ``pos``."""
    (flags,) = _U16.unpack_from(data, pos)
    pos += 2
    headers: dict[str, Any] = {}
    message_id = None
    if flags & (1 << 15):  # content-type
        pos += 1 + data[pos]
    if flags & (1 << 14):  # content-encoding
        pos += 1 + data[pos]
    if flags & (1 << 13):  # headers
        (size,) = _U32.unpack_from(data, pos)
        headers = _headers(data, pos + 4, pos + 4 + size)
        pos += 4 + size
    if flags & _PROPERTY_MESSAGE_ID:
        pos += (1 if flags & (1 << 12) else 0) + (1 if flags & (1 << 11) else 0)
        for bit in (10, 9, 8):  # correlation-id, reply-to, expiration
            if flags & (1 << bit):
                pos += 1 + data[pos]
        message_id = data[pos + 1 : pos + 1 + data[pos]].decode()
    return headers, message_id


class _Protocol(asyncio.Protocol):
    """Frames in, deliveries out; everything else to the handshake queue or a loss."""

    def __init__(self, on_delivery: Callable[[Delivery], None]) -> None:
        self._on_delivery = on_delivery
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._rpc: asyncio.Queue[base.Frame] = asyncio.Queue()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0  # frames received, for the heartbeat watchdog
        # The message being assembled: delivery tag, headers, message_id, body size, chunks.
        self._tag = 0
        self._props: tuple[dict[str, Any], str | None] = ({}, None)
        self._size = 0
        self._chunks: list[bytes] = []
        self._have = 0

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
        buf = self._buffer
        buf += data
        pos, end_of_data = 0, len(buf)
        try:
            while end_of_data - pos >= 8:
                kind, _channel, size = _HEAD.unpack_from(buf, pos)
                end = pos + 7 + size
                if end >= end_of_data:
                    break
                self._check_end(buf[end])
                self.received += 1
                if kind == _BODY:
                    self._body(bytes(buf[pos + 7 : end]))
                elif kind == _METHOD and _CLASS_METHOD.unpack_from(buf, pos + 7)[0] == _DELIVER:
                    tag_at = pos + 12 + buf[pos + 11]  # after class, method, consumer tag
                    self._tag = _U64.unpack_from(buf, tag_at)[0]
                elif kind == _HEADER:
                    self._size = _U64.unpack_from(buf, pos + 11)[0]
                    self._props = _properties(buf, pos + 19)
                    if self._size == 0:
                        self._body(b"")
                elif kind != _HEARTBEAT:
                    self._other(bytes(buf[pos : end + 1]))
                pos = end + 1
        except (SubscriptionLost, UnmarshalingException, struct.error, IndexError) as exc:
            self._fail(exc if isinstance(exc, SubscriptionLost) else SubscriptionLost(repr(exc)))
        del buf[:pos]

    @staticmethod
    def _check_end(octet: int) -> None:
        if octet != _FRAME_END:
            raise SubscriptionLost("malformed frame (no frame end)")

    def _body(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._have += len(chunk)
        if self._have >= self._size:
            body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks, self._have = [], 0
            headers, message_id = self._props
            self._on_delivery(Delivery(self._tag, headers, message_id, body))

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

    def __init__(self, protocol: _Protocol, heartbeat_seconds: int) -> None:
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
        protocol = _Protocol(on_delivery)
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
    async def _handshake(protocol: _Protocol, address: URL, name: str) -> int:
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
        seen, silent = self._protocol.received, 0.0
        while not self.lost.done():
            await asyncio.sleep(interval)
            with contextlib.suppress(SubscriptionLost):
                self._protocol.write(frame.marshal(heartbeat.Heartbeat(), 0))
            silent = 0.0 if self._protocol.received != seen else silent + interval
            seen = self._protocol.received
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

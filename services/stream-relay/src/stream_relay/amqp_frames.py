"""AMQP 0.9.1 frames in, stream deliveries out: the parser of :mod:`stream_relay.amqp_stream`.

Deliveries (``basic.deliver``, content header, body frames) are parsed by hand,
the ``headers`` table's string and integer fields too (the rest through pamqp):
this is the relay's hot path, one call per message, no object per frame. Every
other frame goes out whole, for pamqp to unmarshal.

Guarantees: deliveries come out in the order their frames came in, each once,
whatever the byte stream's chunking and however many body frames a message
spans; a frame that does not end with the frame-end octet raises
:class:`MalformedFrame`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from pamqp.common import FieldTable
from pamqp.decode import field_table

__all__ = ["Delivery", "FrameReader", "MalformedFrame"]

_FRAME_END: Final = 0xCE
_METHOD, _HEADER, _BODY, _HEARTBEAT = 1, 2, 3, 8
_DELIVER: Final = (60 << 16) | 60
_HEAD = struct.Struct(">BHI")
_CLASS_METHOD = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
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


class MalformedFrame(ValueError):
    """The byte stream is not AMQP 0.9.1 frames."""


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


class FrameReader:
    """Reassembles deliveries from a connection's bytes (see the module docstring)."""

    def __init__(
        self, on_delivery: Callable[[Delivery], None], on_frame: Callable[[bytes], None]
    ) -> None:
        self._on_delivery = on_delivery
        self._on_frame = on_frame  # any other frame, whole (heartbeats excepted)
        self._buffer = bytearray()
        self.received = 0  # frames received, for the heartbeat watchdog
        # The message being assembled: delivery tag, headers, message_id, body size, chunks.
        self._tag = 0
        self._props: tuple[dict[str, Any], str | None] = ({}, None)
        self._size = 0
        self._chunks: list[bytes] = []
        self._have = 0

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the connection; complete frames are handled now.

        Raises:
            MalformedFrame: a frame without its frame-end octet.
            struct.error, IndexError: a frame too short for what it claims to be.
        """
        buf = self._buffer
        buf += data
        pos, end_of_data = 0, len(buf)
        try:
            while end_of_data - pos >= 8:
                kind, _channel, size = _HEAD.unpack_from(buf, pos)
                end = pos + 7 + size
                if end >= end_of_data:
                    break
                if buf[end] != _FRAME_END:
                    raise MalformedFrame("malformed frame (no frame end)")
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
                    self._on_frame(bytes(buf[pos : end + 1]))
                pos = end + 1
        finally:
            del buf[:pos]

    def _body(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._have += len(chunk)
        if self._have >= self._size:
            body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            self._chunks, self._have = [], 0
            headers, message_id = self._props
            self._on_delivery(Delivery(self._tag, headers, message_id, body))

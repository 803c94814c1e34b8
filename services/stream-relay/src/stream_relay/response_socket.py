"""The socket of one response under uvicorn's httptools protocol (see :mod:`stream_relay.server`).

Guarantees of :class:`ResponseSocket`: synchronous writes (the fan-out's
direct path), a wait for the client to drain, abort; the head and the first
body chunk in one write; an HTTP/1.0 response made close-delimited (uvicorn's
own ``send`` would frame it in chunks, which HTTP/1.0 does not have); nothing
ever written to a closing socket. uvicorn is pinned to a minor version and the
relay's tests drive a real server over raw sockets, so a change in what this
module relies on is caught.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

__all__ = ["ResponseSocket"]


class ResponseSocket:
    """The socket of one response under uvicorn's httptools protocol.

    Body bytes go straight onto the transport, framed as the response is: chunks
    for HTTP/1.1, raw bytes for HTTP/1.0 (the body then ends when the socket
    closes). Nothing is ever written to a closing socket.
    """

    __slots__ = ("_chunked", "_cycle", "_flow", "_transport")

    def __init__(self, cycle: RequestResponseCycle, *, chunked: bool) -> None:
        self._cycle = cycle
        self._flow = cycle.flow
        self._transport = cycle.transport
        self._chunked = chunked

    @classmethod
    def of(cls, scope: Scope, send: Send) -> ResponseSocket | None:
        """The socket behind ``send``, before the response starts; ``None`` under
        another server or protocol. An HTTP/1.0 response is made close-delimited."""
        cycle = getattr(send, "__self__", None)
        if not isinstance(cycle, RequestResponseCycle) or cycle.response_started:
            return None
        chunked = scope.get("http_version") != "1.0"
        if not chunked:
            cycle.chunked_encoding = False  # uvicorn then adds no transfer-encoding
        return cls(cycle, chunked=chunked)

    async def start(self, send: Send, head: Message, first: bytes) -> None:
        """The status line and headers (``head``, built by uvicorn's own ``send``) and the
        first body chunk, in one write: one syscall and one packet where there were two.

        uvicorn writes the head onto ``cycle.transport`` at once; for that one call the
        cycle writes into a holder instead, and the head goes out with ``first``. When
        the client is not reading yet (never so on a fresh connection) the two go out
        one after the other, as uvicorn alone would send them.
        """
        cycle = self._cycle
        if self._flow.write_paused or cycle.disconnected or self._transport.is_closing():
            await send(head)
            await self.send(first)
            return
        held = _HeldWrites()
        cycle.transport = held  # type: ignore[assignment]  # only write() is called
        try:
            await send(head)
        finally:
            cycle.transport = self._transport
        self._transport.write(b"".join(held.chunks) + self._framed(first))

    def ready(self) -> bool:
        """Whether a write now goes out without waiting (the client is reading)."""
        cycle = self._cycle
        return not (
            cycle.response_complete
            or cycle.disconnected
            or self._flow.write_paused
            or self._transport.is_closing()
        )

    def write(self, chunk: bytes) -> None:
        """One body chunk, now (call :meth:`ready` first): the fan-out's direct path."""
        self._put(chunk)

    async def send(self, chunk: bytes) -> None:
        """One body chunk once the client has drained what it was sent (as ``send``)."""
        if self._flow.write_paused and not self._cycle.disconnected:
            await self._flow.drain()
        if not (self._cycle.disconnected or self._transport.is_closing()):
            self._put(chunk)

    def _put(self, chunk: bytes) -> None:
        if chunk:  # an empty chunk would end a chunked body
            self._transport.write(self._framed(chunk))

    def _framed(self, chunk: bytes) -> bytes:
        if not chunk or not self._chunked:
            return chunk
        return b"%x\r\n%b\r\n" % (len(chunk), chunk)

    def abort(self) -> None:
        """Close the socket now, dropping whatever is still buffered for it."""
        self._transport.abort()


class _HeldWrites:
    """Stands in for a transport while uvicorn writes a response head (ResponseSocket.start)."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

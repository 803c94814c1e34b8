"""Synchronous writes onto a stream's socket under uvicorn's httptools protocol.

Guarantees: :class:`TransportWriter` writes body chunks straight onto the
transport behind uvicorn's ``send``, in the same chunk framing, and only while
a write goes out as ``send`` would without waiting (:meth:`TransportWriter.ready`:
the response is started, chunked and unfinished, the client connected and
reading, the socket not closing); otherwise the session falls back to ``send``
(which waits for the buffer to drain). It never writes to a closed socket, so
a client that left costs no failed write. Any other server or protocol gets
``send`` only.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.types import Send

__all__ = ["STREAM_HEADERS", "TransportWriter"]

_HTTPTOOLS_CYCLE: Final = "uvicorn.protocols.http.httptools_impl"

STREAM_HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
)


class TransportWriter:
    """Synchronous body writes onto the transport behind uvicorn's httptools ``send``.

    Only for a started, chunked, unfinished response whose client is connected
    and reading (:meth:`ready`); the chunk framing is uvicorn's own.
    """

    __slots__ = ("_cycle", "_flow", "_transport")

    def __init__(self, cycle: Any) -> None:  # noqa: ANN401 - uvicorn's RequestResponseCycle
        self._cycle = cycle
        self._flow = cycle.flow
        self._transport = cycle.transport

    @classmethod
    def of(cls, send: Send) -> TransportWriter | None:
        """A writer for the started response ``send`` belongs to; ``None`` for another
        server, or a response that is not chunked (an HTTP/1.0 client)."""
        cycle = getattr(send, "__self__", None)
        if cycle is None or type(cycle).__module__ != _HTTPTOOLS_CYCLE:
            return None
        if not all(hasattr(cycle, a) for a in ("transport", "flow", "chunked_encoding")):
            return None
        if not (cycle.response_started and cycle.chunked_encoding):
            return None
        return cls(cycle)

    def ready(self) -> bool:
        """Whether a write now goes out as ``send`` would, without waiting."""
        cycle = self._cycle
        return not (
            cycle.response_complete
            or cycle.disconnected
            or self._flow.write_paused
            or self._transport.is_closing()
        )

    def write(self, chunk: bytes) -> None:
        """One body chunk (call :meth:`ready` first)."""
        self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))

    def abort(self) -> None:
        """Close the socket now, dropping whatever is still buffered for it."""
        self._transport.abort()

"""A lean ASGI response for one SSE stream: frames go straight to ``send``.

Guarantees:
- the status line and headers (``text/event-stream``, ``Cache-Control:
  no-cache``, ``X-Accel-Buffering: no``) go out first, then each chunk the
  session writes is one ``http.response.body`` message, already encoded;
- the session is told when the client goes away (``http.disconnect``), by one
  small waiter task per stream; it needs no task group and no per-stream queue;
- the response is completed (final empty body) when the session ends, so a
  client sees a clean end of stream and reconnects;
- under uvicorn's httptools protocol with chunked encoding (every HTTP/1.1
  client), live events are also written synchronously by
  :class:`TransportWriter`, straight onto the socket's transport, in the same
  chunk framing uvicorn's ``send`` uses; whenever the transport is paused
  (the client reads slowly) or closing, it declines and the session falls
  back to ``send`` (which waits for the buffer to drain). Any other server
  or protocol gets ``send`` only.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.types import Receive, Send

from stream_relay.session import StreamSession

__all__ = ["STREAM_HEADERS", "TransportWriter", "serve_sse"]

_HTTPTOOLS_CYCLE: Final = "uvicorn.protocols.http.httptools_impl"

STREAM_HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
)


async def serve_sse(session: StreamSession, receive: Receive, send: Send) -> None:
    """Run ``session`` as this request's response until the stream ends or the client leaves."""

    async def write(chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})

    await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})

    def client_gone(task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            session.close("client gone")

    gone = asyncio.ensure_future(_until_disconnect(receive))
    gone.add_done_callback(client_gone)
    try:
        await session.run(write, TransportWriter.of(send))
    finally:
        gone.cancel()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


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
        return not (cycle.response_complete or cycle.disconnected or self._flow.write_paused)

    def write(self, chunk: bytes) -> None:
        """One body chunk (call :meth:`ready` first)."""
        self._transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))

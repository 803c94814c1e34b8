"""A lean ASGI response for one SSE stream: frames go straight to ``send``.

Guarantees:
- the status line and headers (``text/event-stream``, ``Cache-Control:
  no-cache``, ``X-Accel-Buffering: no``) go out first, then each chunk the
  session writes is one ``http.response.body`` message, already encoded;
- the session is told when the client goes away (``http.disconnect``), by one
  small waiter task per stream; it needs no task group and no per-stream queue;
- the response is completed (final empty body) when the session ends, so a
  client sees a clean end of stream and reconnects.
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.types import Receive, Send

from stream_relay.session import StreamSession

__all__ = ["STREAM_HEADERS", "serve_sse"]

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
        await session.run(write)
    finally:
        gone.cancel()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

"""How a stream's bytes reach its socket: one stream's HTTP response, and the one
heartbeat timer every directly written stream shares.

:class:`SseResponse` guarantees:

- the status line and headers (``text/event-stream``, ``Cache-Control:
  no-cache``, ``X-Accel-Buffering: no``) go out with the first frame, which the
  stream writes before it waits for anything (:meth:`~SseResponse.end` sends
  them if no frame was written);
- under uvicorn's httptools protocol the body goes straight onto the socket
  (:class:`~stream_relay.response_socket.ResponseSocket`): synchronously for the
  fan-out while the client is reading (:attr:`~SseResponse.direct`), else once
  the client has drained (:meth:`~SseResponse.write`). Any other server gets
  plain ASGI ``send`` and no direct writes;
- HTTP/1.1 bodies are chunked; an HTTP/1.0 body is close-delimited. A
  response says ``Connection: keep-alive`` only when the connection is kept
  (never next to uvicorn's ``Connection: close``);
- the owner is told once when the client goes away (one small waiter task per
  stream, no task group, no queue); :meth:`~SseResponse.end` completes the
  response so the client sees a clean end of stream and reconnects.

:class:`Heartbeats`: a stream written directly registers while it is live.
Every ``tick`` (a quarter of the interval, at most 1 s) the timer asks each one
to write ``: heartbeat`` if nothing was written to it for the interval: an idle
stream costs a check per tick and a write per interval, and its coroutine
sleeps until its token expires or an event has to be queued. A heartbeat may
come up to one tick late. Streams without a direct writer keep their own timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, Protocol

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from stream_relay.response_socket import ResponseSocket
from stream_relay.ticker import Ticker

__all__ = ["STREAM_HEADERS", "Beating", "Heartbeats", "SseResponse"]

log = logging.getLogger("stream_relay.heartbeat")

STREAM_HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
_KEEP_ALIVE: Final = (*STREAM_HEADERS, (b"connection", b"keep-alive"))


class SseResponse:
    """One stream's response: :meth:`start`, then :meth:`write` chunks, then :meth:`end`."""

    __slots__ = ("_gone", "_head", "_receive", "_scope", "_send", "direct")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        headers = _KEEP_ALIVE if _keeps_alive(scope) else STREAM_HEADERS
        self._head: Message | None = {
            "type": "http.response.start",
            "status": 200,
            "headers": headers,
        }
        self._gone: asyncio.Future[None] | None = None
        self.direct = ResponseSocket.of(scope, send)
        """Synchronous writes onto the socket (``None`` under another server)."""

    def start(self, on_gone: Callable[[], None]) -> None:
        """Watch the client: ``on_gone`` is called once if it leaves. The head goes out
        with the first :meth:`write`."""

        def client_gone(task: asyncio.Future[None]) -> None:
            if not task.cancelled():
                on_gone()

        self._gone = asyncio.ensure_future(_until_disconnect(self._receive))
        self._gone.add_done_callback(client_gone)

    @property
    def gone(self) -> asyncio.Future[None]:
        """Done when the client has gone away (after :meth:`start`)."""
        assert self._gone is not None  # noqa: S101 - start() comes first
        return self._gone

    async def write(self, chunk: bytes) -> None:
        """One body chunk (the first one with the head), once the client has drained
        what it was sent."""
        head, self._head = self._head, None
        if self.direct is not None:
            if head is not None:
                await self.direct.start(self._send, head, chunk)
            else:
                await self.direct.send(chunk)
            return
        if head is not None:
            await self._send(head)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    @property
    def head_pending(self) -> bool:
        """Whether nothing of the response went out yet (no :meth:`write`, no :meth:`end`)."""
        return self._head is not None

    async def refuse(self, answer: Response) -> None:
        """Answer with ``answer`` instead of a stream (only while :attr:`head_pending`)."""
        self._head = None
        await answer(self._scope, self._receive, self._send)

    async def end(self) -> None:
        """Complete the response (an HTTP/1.0 one by closing the socket)."""
        if self._gone is not None:
            self._gone.cancel()
        head, self._head = self._head, None
        if head is not None:
            await self._send(head)
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def _keeps_alive(scope: Scope) -> bool:
    """HTTP/1.1 without ``Connection: close`` (RFC 9112 §9.3)."""
    if scope.get("http_version") == "1.0":
        return False
    for name, value in scope["headers"]:
        if name == b"connection" and b"close" in value.lower():
            return False
    return True


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Beating(Protocol):
    def beat(self, now: float) -> None:
        """Write a heartbeat if one is due at ``now`` (``time.monotonic()``)."""


class Heartbeats:
    """The relay's one heartbeat timer; :meth:`start` it, :meth:`stop` it."""

    def __init__(self, interval: float) -> None:
        self.tick = min(1.0, interval / 4)  # streams compare against the interval themselves
        self._streams: set[Beating] = set()
        self._ticker = Ticker(self.tick, self._beat_all, name="stream-relay-heartbeats")

    def add(self, stream: Beating) -> None:
        self._streams.add(stream)

    def discard(self, stream: Beating) -> None:
        self._streams.discard(stream)

    def __len__(self) -> int:
        return len(self._streams)

    def start(self) -> None:
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    def _beat_all(self, now: float) -> None:
        for stream in list(self._streams):
            try:
                stream.beat(now)
            except Exception:  # one broken stream must not stop everyone's heartbeat
                log.exception("heartbeat failed; dropping the stream from the timer")
                self._streams.discard(stream)

"""``GET /api/v1/notifications/stream`` as a bare ASGI endpoint (DESIGN §5).

The stream is the relay's one long-lived request, so it skips FastAPI's
per-request machinery (dependency solving, middleware chain, a task group per
response): :class:`~stream_relay.app.RelayApp` hands it the request directly.
Answers are the same as every other route's: 401/429/503 (and 405 for other
methods) in the one JSON error shape of :mod:`stream_relay.errors`.

What an open stream keeps: its :class:`~stream_relay.session.StreamSession`
(and connection) and the coroutine of :func:`serve_sse`;
everything used to authenticate and open it is dropped before the first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from stream_relay import sse
from stream_relay.errors import (
    RelayError,
    ShuttingDown,
    TooManyStreamsError,
    error_response,
    relay_error_response,
    unexpected_error_response,
)
from stream_relay.fanout import TooManyStreams
from stream_relay.indexed_event import parse_sse_id
from stream_relay.relay import Relay
from stream_relay.security import authenticate
from stream_relay.session import StreamSession
from stream_relay.sse_response import STREAM_HEADERS, TransportWriter

__all__ = ["STREAM_PATH", "serve_sse", "stream"]

STREAM_PATH: Final = "/api/v1/notifications/stream"


async def stream(scope: Scope, receive: Receive, send: Send) -> int:
    """Answer one request for the stream; returns the HTTP status it answered with."""
    if scope["method"] != "GET":
        response = error_response(405, "http_405", "Method Not Allowed")
        response.headers["Allow"] = "GET"
        await response(scope, receive, send)
        return 405
    try:
        session = await _open(scope["state"]["relay"], HTTPConnection(scope))
    except RelayError as exc:
        await relay_error_response(exc)(scope, receive, send)
        return exc.status
    except Exception as exc:  # noqa: BLE001 - a bug answers 500 JSON, as on every route
        await unexpected_error_response(exc)(scope, receive, send)
        return 500
    await serve_sse(session, receive, send)
    return 200


async def _open(relay: Relay, request: HTTPConnection) -> StreamSession:
    """Authenticate, wait until the index can answer the replay, register the stream.

    Raises:
        NotAuthenticated: no usable token (401).
        TooManyStreamsError: the user is at the limit (429).
        ShuttingDown: this relay is stopping (503).
    """
    caller = await authenticate(request, relay.verifier)
    if relay.registry.closing:
        raise ShuttingDown("this relay is shutting down; reconnect")
    wait = relay.settings.catch_up_wait_seconds
    # A fresh relay first reads the retained log, so replays are complete (bounded wait).
    if not relay.consumer.caught_up.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(relay.consumer.caught_up.wait(), wait)
    last_id = sse.last_event_id(
        request.headers.get("last-event-id"), request.query_params.get("lastEventId")
    )
    wanted = parse_sse_id(last_id) if last_id else None
    if wanted is not None:
        await relay.consumer.reach(wanted[0], wait)
    try:
        return StreamSession.open(
            caller,
            last_id,
            index=relay.index,
            registry=relay.registry,
            snapshots=relay.snapshots,
            metrics=relay.metrics,
            config=relay.session_config,
        )
    except TooManyStreams:
        limit = relay.settings.max_streams_per_user
        raise TooManyStreamsError(f"at most {limit} streams per user") from None


async def serve_sse(session: StreamSession, receive: Receive, send: Send) -> None:
    """Run ``session`` as this request's response until the stream ends or the client leaves.

    The status line and headers go out first; each chunk the session writes is one
    ``http.response.body`` message (or a direct write, see
    :class:`~stream_relay.sse_response.TransportWriter`); the session is told when the
    client goes away by one small waiter task; the response is completed when the
    session ends, so a client sees a clean end of stream and reconnects.
    """

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

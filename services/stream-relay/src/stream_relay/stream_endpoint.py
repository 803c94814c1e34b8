"""``GET /api/v1/notifications/stream`` as a bare ASGI endpoint (DESIGN §5).

The stream is the relay's one long-lived request, so it skips FastAPI's
per-request machinery (dependency solving, middleware chain, a task group per
response): :class:`~stream_relay.app.RelayApp` hands it the request directly.

Order: refuse while the relay is overloaded (503 with ``Retry-After``,
:mod:`stream_relay.overload`), authenticate (401), refuse while shutting down
(503) or when the user is at ``MAX_STREAMS_PER_USER`` (429), in the one JSON error shape of
:mod:`stream_relay.errors` (and 405 for other methods); then the status line
and headers go out at once, in one write with the first frame. If the index
cannot answer yet (the relay is still reading the log, or the client's
``Last-Event-ID`` is ahead of it) that frame is a lone ``retry:`` and the
stream waits, at most ``CATCH_UP_WAIT_SECONDS`` per step, or
until the client leaves. Only then is the stream registered, in one
synchronous step with its replay (:meth:`StreamSession.open`). If it can no
longer be registered (another stream of the user took the last slot meanwhile,
or the relay began to stop), the stream ends there and the client reconnects
after ``retry``.

What an open stream keeps: its :class:`~stream_relay.session.StreamSession`
(and connection), its :class:`~stream_relay.sse_response.SseResponse` and this
coroutine; everything used to authenticate and open it is dropped before the
first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from qahub_contracts.errors import ErrorCode
from stream_relay import sse
from stream_relay.consumer import StreamConsumer
from stream_relay.errors import (
    Overloaded,
    RelayError,
    ShuttingDown,
    TooManyStreamsError,
    error_response,
    log_unexpected,
    relay_error_response,
    unexpected_error_response,
)
from stream_relay.fanout import TooManyStreams
from stream_relay.indexed_event import parse_sse_id
from stream_relay.relay import Relay
from stream_relay.security import Caller, authenticate
from stream_relay.session import StreamSession
from stream_relay.sse_response import SseResponse

__all__ = ["STREAM_PATH", "stream"]

log = logging.getLogger("stream_relay.stream")

STREAM_PATH: Final = "/api/v1/notifications/stream"


async def stream(scope: Scope, receive: Receive, send: Send) -> int:
    """Answer one request for the stream; returns the HTTP status it answered with."""
    if scope["method"] != "GET":
        response = error_response(405, ErrorCode.METHOD_NOT_ALLOWED, "Method Not Allowed")
        response.headers["Allow"] = "GET"
        await response(scope, receive, send)
        return 405
    relay: Relay = scope["state"]["relay"]
    try:
        _shed_if_overloaded(relay)  # first: a refusal must cost next to nothing
        caller, last_id = await _admit(relay, HTTPConnection(scope))
    except RelayError as exc:
        await relay_error_response(exc)(scope, receive, send)
        return exc.status
    except Exception as exc:  # noqa: BLE001 - a bug answers 500 JSON, as on every route
        await unexpected_error_response(exc)(scope, receive, send)
        return 500
    await _serve(relay, caller, last_id, SseResponse(scope, receive, send))
    return 200


def _shed_if_overloaded(relay: Relay) -> None:
    """Raises:
    Overloaded: the relay's event loop runs late (503 with ``Retry-After``).
    """
    if relay.loop_lag.overloaded():
        relay.metrics.streams_shed.inc()
        raise Overloaded("this relay is overloaded; retry later", relay.loop_lag.retry_after())


async def _admit(relay: Relay, request: HTTPConnection) -> tuple[Caller, str | None]:
    """The caller and its ``Last-Event-ID``, if this relay would open a stream for it now.

    The request itself is not kept: an open stream holds nothing of it.

    Raises:
        NotAuthenticated: no usable token (401).
        ShuttingDown: this relay is stopping (503).
        TooManyStreamsError: the user is at the limit (429).
    """
    caller = await authenticate(request, relay.verifier)
    if relay.registry.closing:
        raise ShuttingDown("this relay is shutting down; reconnect")
    limit = relay.settings.max_streams_per_user
    if relay.registry.count(caller.principal.user_id) >= limit:
        raise TooManyStreamsError(f"at most {limit} streams per user")
    last_id = sse.last_event_id(
        request.headers.get("last-event-id"), request.query_params.get("lastEventId")
    )
    return caller, last_id


async def _serve(relay: Relay, caller: Caller, last_id: str | None, response: SseResponse) -> None:
    """Start the response, wait if the index cannot answer yet, then run the session."""
    session: StreamSession | None = None

    def client_gone() -> None:
        if session is not None:
            session.close("client gone")

    response.start(client_gone)
    try:
        wanted = parse_sse_id(last_id) if last_id else None
        if _must_wait(relay.consumer, wanted):
            retry = relay.session_config.stream_retry_ms()
            await response.write(sse.encode_frame(retry_ms=retry))
            await _until_ready(relay, wanted, response.gone)
        session = _register(relay, caller, last_id) if not response.gone.done() else None
        if session is not None:
            await session.run(response.write, response.direct)
    except Exception as exc:  # noqa: BLE001 - a bug: logged; JSON 500 if no byte went out yet
        if response.head_pending:
            response.gone.cancel()
            await response.refuse(unexpected_error_response(exc))
            return
        log_unexpected(exc)  # the stream has begun: it ends, and the client reconnects
    finally:
        response.gone.cancel()
    await response.end()


def _must_wait(consumer: StreamConsumer, wanted: tuple[int, str] | None) -> bool:
    """Whether the index cannot answer yet: not caught up, or ``wanted`` is ahead of it."""
    if not consumer.caught_up.is_set():
        return True
    last = consumer.last_offset
    return wanted is not None and (last is None or last < wanted[0])


async def _until_ready(
    relay: Relay, wanted: tuple[int, str] | None, gone: asyncio.Future[None]
) -> None:
    """Wait (bounded) until the index can answer the replay, or the client leaves."""

    async def ready() -> None:
        wait = relay.settings.catch_up_wait_seconds
        # A fresh relay first reads the retained log, so replays are complete.
        if not relay.consumer.caught_up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(relay.consumer.caught_up.wait(), wait)
        # A client coming from another relay may carry an id a little ahead of this one.
        if wanted is not None:
            await relay.consumer.reach(wanted[0], wait)

    waiting = asyncio.ensure_future(ready())
    try:
        await asyncio.wait((waiting, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()


def _register(relay: Relay, caller: Caller, last_id: str | None) -> StreamSession | None:
    """The registered session, or ``None`` when the user's slots filled meanwhile."""
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
        log.info("stream not opened after its wait: the user is at the limit or the relay stops")
        return None

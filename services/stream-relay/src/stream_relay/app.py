"""The relay's ASGI application: one factory, one lifespan (STYLE: nothing at import time).

``create_app(settings)`` builds the app; its lifespan starts a
:class:`~stream_relay.relay.Relay` (consumer, index, registry, HTTP client)
and closes it on shutdown. ``app.state.stop_streams`` ends every open stream
ahead of the server's own shutdown (``python -m stream_relay`` calls it on SIGTERM).
Requests for the stream go straight to :mod:`stream_relay.stream_endpoint`;
every other path goes through FastAPI as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qahub_contracts.logs import access_line
from stream_relay.errors import install_error_handlers
from stream_relay.relay import Relay, running_relay
from stream_relay.routes import router
from stream_relay.settings import RelaySettings
from stream_relay.stream_endpoint import STREAM_PATH, stream

__all__ = ["AccessLog", "RelayApp", "RelayState", "create_app"]

access_log = logging.getLogger("stream_relay.access")


class RelayState(TypedDict):
    """What the lifespan hands to every request (``request.state.relay``)."""

    relay: Relay


class AccessLog:
    """One log line per request/stream: method, path, status, duration. Never the query
    string, so a ``?token=`` can never reach a log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.monotonic(), 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log_request(scope, status, started)


def log_request(scope: Scope, status: int, started: float) -> None:
    """The access-log line of one request, in the services' one format (no query string;
    control characters escaped, so a crafted path cannot forge a line)."""
    client = scope.get("client") or ("-", 0)
    seconds = time.monotonic() - started
    access_line(
        access_log, client[0], scope["method"], scope["path"], status=status, seconds=seconds
    )


class RelayApp(FastAPI):
    """FastAPI, except that the stream path is answered by the bare stream endpoint.

    An open stream then holds no FastAPI/Starlette per-request objects (the
    middleware chain, dependency results, a response task group), which is most
    of what an idle stream used to cost.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == STREAM_PATH:
            started, status = time.monotonic(), 0
            try:
                status = await stream(scope, receive, send)
            finally:
                log_request(scope, status, started)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: RelaySettings) -> RelayApp:
    """The relay app for ``settings``; connects to nothing until its lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[RelayState]:
        async with running_relay(settings) as relay:
            app.state.stop_streams = relay.stop_streams
            yield {"relay": relay}

    app = RelayApp(
        title="QaHub stream-relay",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.stop_streams = lambda: None
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(AccessLog)
    return app

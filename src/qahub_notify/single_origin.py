"""Both services behind one origin, in one process: the ASGI router of ``qahub-notify dev``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SingleOrigin", "is_relay_path"]

_RELAY_PREFIXES: Final = ("/api/v1/notifications/stream", "/static/")


def is_relay_path(path: str) -> bool:
    """The paths the relay serves: the stream endpoints, the demo page and its assets."""
    return path == "/" or path.startswith(_RELAY_PREFIXES)


class SingleOrigin:
    """Routes each request to the relay or the API and runs both apps' lifespans.

    Each app's lifespan runs through the ASGI lifespan protocol, and each app
    gets the state its own lifespan produced, so the two never see (or
    overwrite) each other's connections.
    """

    def __init__(self, api: ASGIApp, relay: ASGIApp) -> None:
        self.api = api
        self.relay = relay
        self._states: dict[int, dict[str, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        app = self.relay if is_relay_path(scope.get("path", "")) else self.api
        await app({**scope, "state": dict(self._states.get(id(app), {}))}, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"  # noqa: S101 - the ASGI protocol's order
        async with contextlib.AsyncExitStack() as stack:
            try:
                for app in (self.api, self.relay):
                    state: dict[str, Any] = {}
                    await stack.enter_async_context(_lifespan(app, state))
                    self._states[id(app)] = state
            except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.asynccontextmanager
async def _lifespan(app: ASGIApp, state: dict[str, Any]) -> AsyncIterator[None]:
    """Run ``app``'s lifespan through the ASGI lifespan protocol (as a server would);
    what its startup puts in ``state`` is the state of its requests.

    Raises:
        RuntimeError: its startup failed (with the app's message).
    """
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    running: asyncio.Future[None] = asyncio.ensure_future(app(scope, to_app.get, from_app.put))

    async def answer(to: str) -> None:
        await to_app.put({"type": to})
        got = asyncio.ensure_future(from_app.get())
        await asyncio.wait((got, running), return_when=asyncio.FIRST_COMPLETED)
        message = got.result() if got.done() else {"type": "", "message": "lifespan ended"}
        got.cancel()
        if message["type"] != f"{to}.complete":
            raise RuntimeError(message.get("message") or f"{to} failed")

    try:
        await answer("lifespan.startup")
        yield
        await answer("lifespan.shutdown")
    finally:
        if not running.done():
            running.cancel()
        await asyncio.wait((running,))
        if not running.cancelled():
            running.exception()  # retrieved: a failed startup was reported above

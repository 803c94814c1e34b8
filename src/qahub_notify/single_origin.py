"""Both services behind one origin, in one process: the ASGI router of ``qahub-notify dev``."""

from __future__ import annotations

import contextlib
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SingleOrigin", "is_relay_path"]

_RELAY_PREFIXES: Final = ("/api/v1/notifications/stream", "/static/")


def is_relay_path(path: str) -> bool:
    """The paths the relay serves: the stream endpoints, the demo page and its assets."""
    return path == "/" or path.startswith(_RELAY_PREFIXES)


class SingleOrigin:
    """Routes each request to the relay or the API and runs both apps' lifespans.

    Each app gets the state its own lifespan produced, so the two never see
    (or overwrite) each other's connections.
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
                    context = app.router.lifespan_context(app)  # type: ignore[attr-defined]
                    self._states[id(app)] = dict(await stack.enter_async_context(context) or {})
            except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

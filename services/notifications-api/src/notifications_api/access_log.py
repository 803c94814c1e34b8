"""One log line and metrics per request; never the query string (it may hold a token)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifications_api.metrics import ApiMetrics
from qahub_contracts.logs import access_line

__all__ = ["AccessLog"]

log = logging.getLogger("notifications_api.access")


class AccessLog:
    """ASGI middleware: one access line (:func:`qahub_contracts.logs.access_line`) per request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(scope["method"], route).observe(elapsed)
            client = scope.get("client") or ("-", 0)
            access_line(
                log, client[0], scope["method"], scope["path"], status=status, seconds=elapsed
            )


def _route(scope: Scope) -> str:
    """The route template (bounded label values), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"

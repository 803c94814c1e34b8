"""An HTTP proxy in front of the real API that plays failures: 503, 429, a stall, a lost answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import serving


@dataclass
class FlakyProxy:
    """Plays ``script`` (one step per request), then forwards every request to the API."""

    api_url: str
    script: list[str]
    keys: list[str | None] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        body = await request.body()
        step = self.script.pop(0) if self.script else "forward"
        if step == "503":
            return _error(503, "unavailable")
        if step == "429":
            return _error(429, "too_many_requests", {"Retry-After": "1"})
        if step == "stall":  # past the client's timeout; the client has gone by then
            await asyncio.sleep(2)
            return _error(504, "late")
        answer = await self._forward(request, body)
        if step == "lose":  # the API committed; its answer never reaches the client
            return _error(502, "bad_gateway")
        return answer

    async def _forward(self, request: Request, body: bytes) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with httpx.AsyncClient(base_url=self.api_url) as http:
            answer = await http.request(
                request.method, request.url.path, content=body, headers=headers
            )
        return Response(answer.content, answer.status_code, media_type="application/json")


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": code, "message": code}}
    return JSONResponse(body, status_code=status, headers=headers)


@contextlib.asynccontextmanager
async def flaky_proxy(
    api_url: str, script: list[str] | None = None
) -> AsyncIterator[tuple[FlakyProxy, str]]:
    """Serve a :class:`FlakyProxy` on loopback; yields it and its base URL."""
    proxy = FlakyProxy(api_url, list(script or []))
    methods = ["GET", "POST", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", proxy.handle, methods=methods)])
    async with serving(app) as url:
        yield proxy, url

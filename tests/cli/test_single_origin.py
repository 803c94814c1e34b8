"""``qahub-notify dev``'s router runs both apps' lifespans over the ASGI protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from qahub_notify.single_origin import SingleOrigin


def app(name: str, events: list[str], *, fail: bool = False) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append(f"{name} up")
        if fail:
            raise RuntimeError(f"{name} cannot start")
        yield {"who": name}
        events.append(f"{name} down")

    async def who(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.who)

    routes = [Route("/api/v1/notifications/stream/connections", who), Route("/x", who)]
    return Starlette(routes=routes, lifespan=lifespan)


async def run_lifespan(router: SingleOrigin):
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(router({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    answer = await asyncio.wait_for(outbox.get(), 5)
    return answer, inbox, outbox, task


async def get(router: SingleOrigin, path: str) -> bytes:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    await router(scope, receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


class TestLifespan:
    async def test_each_app_starts_stops_and_sees_only_its_own_state(self):
        events: list[str] = []
        router = SingleOrigin(app("api", events), app("relay", events))
        answer, inbox, outbox, task = await run_lifespan(router)
        assert answer == {"type": "lifespan.startup.complete"}
        assert await get(router, "/x") == b"api"
        assert await get(router, "/api/v1/notifications/stream/connections") == b"relay"
        await inbox.put({"type": "lifespan.shutdown"})
        assert await asyncio.wait_for(outbox.get(), 5) == {"type": "lifespan.shutdown.complete"}
        await task
        assert events == ["api up", "relay up", "relay down", "api down"]

    async def test_a_failed_startup_is_reported_and_the_started_app_stopped(self):
        events: list[str] = []
        router = SingleOrigin(app("api", events), app("relay", events, fail=True))
        answer, _, _, task = await run_lifespan(router)
        assert answer["type"] == "lifespan.startup.failed"
        assert "relay cannot start" in answer["message"]
        await task
        assert events == ["api up", "relay up", "api down"]

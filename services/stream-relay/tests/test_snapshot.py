"""The relay's client of the notifications API (stream_relay.snapshot)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stream_relay.snapshot import COOLDOWN_SECONDS, TRIP_AFTER, SnapshotClient

BODY = {"stats": {"total": 1, "unread": 1, "read": 0, "unseen": 1}, "recent": []}


class Api:
    """A stand-in API on a loopback port: counts requests and overlaps; status 0 drops
    the connection without an answer."""

    def __init__(self) -> None:
        self.url = ""  # set once it listens
        self.status = 200
        self.delay = 0.0
        self.paths: list[str] = []
        self.tokens: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.sessions: list[aiohttp.ClientSession] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        self.tokens.append(request.headers.get("Authorization", ""))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.status == 0:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        return web.json_response(BODY if self.status == 200 else {}, status=self.status)

    def client(self, concurrency: int = 4, wait_seconds: float = 15.0) -> SnapshotClient:
        http = SnapshotClient.session(concurrency, timeout_seconds=5)
        self.sessions.append(http)
        return SnapshotClient(http, self.url, concurrency=concurrency, wait_seconds=wait_seconds)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    stand_in = Api()
    app = web.Application()
    app.router.add_get("/{path:.*}", stand_in.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stand_in.url = f"http://{host}:{port}/"
    yield stand_in
    for session in stand_in.sessions:
        await session.close()
    await runner.cleanup()


class TestRequests:
    """One request per snapshot; bounded concurrency; a queue with a bounded wait."""

    async def test_one_request_gives_stats_and_recent(self, api: Api):
        snapshot = await api.client().fetch("t")
        assert snapshot.complete
        assert snapshot.recent_frame == b'event: recent\ndata: {"notifications":[]}\n\n'
        assert api.paths == ["/api/v1/notifications/snapshot"]
        assert api.tokens == ["Bearer t"]  # the caller's own token, nothing else

    async def test_no_more_than_concurrency_requests_at_once_the_rest_queue(self, api: Api):
        api.delay = 0.02
        client = api.client(concurrency=4)
        got = await asyncio.gather(*(client.fetch(f"t{i}") for i in range(20)))
        assert all(s.complete for s in got)
        assert api.most_in_flight == 4
        assert client.requests == 20

    async def test_a_wait_for_a_free_connection_is_bounded(self, api: Api):
        api.delay = 1.0
        client = api.client(concurrency=1, wait_seconds=0.1)
        first = asyncio.create_task(client.fetch("t1"))
        await asyncio.sleep(0.01)  # it holds the one connection
        started = time.monotonic()
        assert not (await client.fetch("t2")).complete
        assert time.monotonic() - started < 0.9
        assert (await first).complete


class TestApiDown:
    """Failures in a row make the API count as down for a pause; a 4xx never does."""

    async def test_failures_in_a_row_fail_fast_then_the_api_is_tried_again(self, api: Api):
        api.status = 0
        client = api.client()
        for _ in range(TRIP_AFTER):
            assert not (await client.fetch("t")).complete
        assert client.api_down()
        asked = len(api.paths)
        assert not (await client.fetch("t")).complete
        assert len(api.paths) == asked  # not even tried
        api.status = 200
        await asyncio.sleep(COOLDOWN_SECONDS + 0.05)
        assert (await client.fetch("t")).complete

    async def test_server_errors_count_and_refusals_of_a_token_do_not(self, api: Api):
        api.status = 401
        client = api.client()
        for _ in range(TRIP_AFTER + 2):
            assert not (await client.fetch("t")).complete
        assert not client.api_down()
        api.status = 503
        for _ in range(TRIP_AFTER):
            await client.fetch("t")
        assert client.api_down()

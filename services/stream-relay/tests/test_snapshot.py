"""The relay's client of the notifications API (stream_relay.snapshot)."""

from __future__ import annotations

import asyncio
import time

import httpx

from stream_relay.snapshot import COOLDOWN_SECONDS, TRIP_AFTER, SnapshotClient

BODY = {"stats": {"total": 1, "unread": 1, "read": 0, "unseen": 1}, "recent": []}


class Api:
    """A stand-in API behind httpx's mock transport: counts requests and overlaps."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.paths: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.status == 0:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(self.status, json=BODY if self.status == 200 else {})

    def client(self, concurrency: int = 4, wait_seconds: float = 15.0) -> SnapshotClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self), base_url="http://api")
        return SnapshotClient(http, concurrency=concurrency, wait_seconds=wait_seconds)


class TestRequests:
    """One request per snapshot; bounded concurrency; a queue with a bounded wait."""

    async def test_one_request_gives_stats_and_recent(self):
        api = Api()
        snapshot = await api.client().fetch("t")
        assert snapshot.complete
        assert snapshot.recent_frame == b'event: recent\ndata: {"notifications":[]}\n\n'
        assert api.paths == ["/api/v1/notifications/snapshot"]

    async def test_no_more_than_concurrency_requests_at_once_the_rest_queue(self):
        api = Api(delay=0.02)
        client = api.client(concurrency=4)
        got = await asyncio.gather(*(client.fetch(f"t{i}") for i in range(20)))
        assert all(s.complete for s in got)
        assert api.most_in_flight == 4
        assert client.requests == 20

    async def test_a_wait_for_a_free_connection_is_bounded(self):
        api = Api(delay=1.0)
        client = api.client(concurrency=1, wait_seconds=0.1)
        first = asyncio.create_task(client.fetch("t1"))
        await asyncio.sleep(0.01)  # it holds the one connection
        started = time.monotonic()
        assert not (await client.fetch("t2")).complete
        assert time.monotonic() - started < 0.9
        assert (await first).complete


class TestApiDown:
    """Failures in a row make the API count as down for a pause; a 4xx never does."""

    async def test_failures_in_a_row_fail_fast_then_the_api_is_tried_again(self):
        api = Api(status=0)
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

    async def test_server_errors_count_and_refusals_of_a_token_do_not(self):
        api = Api(status=401)
        client = api.client()
        for _ in range(TRIP_AFTER + 2):
            assert not (await client.fetch("t")).complete
        assert not client.api_down()
        api.status = 503
        for _ in range(TRIP_AFTER):
            await client.fetch("t")
        assert client.api_down()

"""``events()`` against the real relay: reconnects, resumes, renews its token, never repeats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import EventSource
from tests.support.proxy import tcp_proxy

from qahub_notify_client import (
    AsyncEventStream,
    AsyncNotificationsClient,
    NotificationsClient,
    StreamEvent,
    Unauthorized,
)
from qahub_notify_client._stream import StreamSession

from .conftest import Stack


async def collect(
    events: AsyncEventStream,
    until: Callable[[list[StreamEvent]], bool],
    *,
    timeout: float = 20,
    on_event: Callable[[StreamEvent], object] | None = None,
) -> list[StreamEvent]:
    """Events until ``until(seen)`` holds; fails after ``timeout`` naming what arrived."""
    seen: list[StreamEvent] = []

    async def read() -> None:
        async for event in events:
            seen.append(event)
            if on_event is not None:
                await asyncio.sleep(0)
                on_event(event)
            if until(seen):
                return

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        pytest.fail(f"timed out; got {[(e.event, e.id) for e in seen]}")
    return seen


def notifications(seen: list[StreamEvent]) -> list[str]:
    return [e.data["data"] for e in seen if e.event == "notification"]


@pytest.fixture
async def service(stack: Stack) -> AsyncIterator[AsyncNotificationsClient]:
    async with AsyncNotificationsClient(stack.api_url, stack.service_token()) as client:
        yield client


class TestEvents:
    """What a subscriber sees on one connection."""

    async def test_snapshot_then_live_events_with_parsed_data_and_no_heartbeats(
        self, stack: Stack, service
    ):
        async with AsyncNotificationsClient(
            stack.api_url, stack.token("alice"), stream_url=stack.relay_url
        ) as alice:
            events = alice.events()
            first = await collect(events, lambda s: s[-1].event == "recent")
            assert [e.event for e in first] == ["connected", "stats", "recent"]
            assert first[0].data["recovered"] is False
            assert all(e.id is None for e in first)
            later = asyncio.create_task(
                collect(events, lambda s: s[-1].event == "stats", timeout=10)
            )
            await asyncio.sleep(1.0)  # idle: three 0.3 s heartbeats go by, none is an event
            sent = await service.send("alice", "invoice.paid", {"invoice": 7})
            live = await later
            await events.aclose()
        assert [e.event for e in live] == ["notification", "stats"]
        assert live[0].id
        assert live[0].data["id"] == str(sent.id)
        assert live[0].data["data"] == {"invoice": 7}
        assert live[1].id is None
        assert live[1].data["total"] == 1

    async def test_resumes_after_last_event_id(self, stack: Stack, service):
        async with AsyncNotificationsClient(
            stack.api_url, stack.token("alice"), stream_url=stack.relay_url
        ) as alice:
            events = alice.events()
            await collect(events, lambda s: s[-1].event == "recent")
            await service.send("alice", "t", "one")
            one = (await collect(events, lambda s: s[-1].event == "notification"))[-1]
            await events.aclose()
            await service.send("alice", "t", "two")
            await service.send("alice", "t", "three")
            resumed = await collect(alice.events(one.id), lambda s: "three" in notifications(s))
        assert resumed[0].event == "connected"
        assert resumed[0].data["recovered"] is True
        assert notifications(resumed) == ["two", "three"]
        assert "recent" not in [e.event for e in resumed]

    async def test_a_refused_fixed_token_raises_unauthorized(self, stack: Stack):
        expired = stack.token("alice", ttl_seconds=-10)
        async with AsyncNotificationsClient(
            stack.api_url, expired, stream_url=stack.relay_url
        ) as alice:
            with pytest.raises(Unauthorized):
                await collect(alice.events(), lambda _: False, timeout=10)

    async def test_a_401_asks_the_token_callable_again(self, stack: Stack):
        tokens = [stack.token("alice", ttl_seconds=-10), stack.token("alice")]
        asked: list[str] = []

        def token() -> str:
            asked.append(tokens[min(len(asked), 1)])
            return asked[-1]

        async with AsyncNotificationsClient(
            stack.api_url, token, stream_url=stack.relay_url
        ) as alice:
            seen = await collect(alice.events(), lambda s: s[-1].event == "connected")
        assert seen[0].data["userId"] == "alice"
        assert asked == tokens

    async def test_the_blocking_twin_reads_the_same_stream(self, stack: Stack, service):
        client = NotificationsClient(
            stack.api_url, stack.token("alice"), stream_url=stack.relay_url
        )
        created = asyncio.Event()
        loop = asyncio.get_running_loop()

        def read() -> list[str]:
            names = []
            for event in client.events():
                names.append(event.event)
                if event.event == "recent":
                    loop.call_soon_threadsafe(created.set)
                if event.event == "notification":
                    return names
            return names

        reader = asyncio.create_task(asyncio.to_thread(read))
        await asyncio.wait_for(created.wait(), 10)
        await service.send("alice", "t", "hello")
        names = await asyncio.wait_for(reader, 10)
        client.close()
        assert names == ["connected", "stats", "recent", "notification"]


class TestReconnect:
    """Across reconnects each event arrives once, in order, with no gap."""

    async def test_a_cut_connection_is_resumed_with_last_event_id(self, stack: Stack, service):
        relay = urlsplit(stack.relay_url)
        async with tcp_proxy(relay.hostname or "127.0.0.1", relay.port or 80) as proxy:
            proxied = f"http://127.0.0.1:{proxy.port}"
            alice = AsyncNotificationsClient(
                stack.api_url, stack.token("alice"), stream_url=proxied
            )
            events = alice.events()
            await collect(events, lambda s: s[-1].event == "recent")
            await service.send("alice", "t", "before")
            await collect(events, lambda s: notifications(s) == ["before"])
            await proxy.cut()
            await service.send("alice", "t", "while-cut")
            proxy.restore()
            after = await collect(events, lambda s: "while-cut" in notifications(s))
            await events.aclose()
            await alice.aclose()
        connects = [e.data["recovered"] for e in after if e.event == "connected"]
        assert connects
        assert connects[-1] is True
        assert notifications(after) == ["while-cut"]

    async def test_an_expiring_token_is_renewed_with_no_gap_and_no_duplicate(
        self, stack: Stack, service
    ):
        tokens: list[str] = []

        def short_lived() -> str:
            tokens.append(stack.token("alice", ttl_seconds=2))
            return tokens[-1]

        expected = [f"n{i}" for i in range(40)]

        async def produce() -> None:
            for text in expected:
                await service.send("alice", "t", text)
                await asyncio.sleep(0.1)

        async with AsyncNotificationsClient(
            stack.api_url, short_lived, stream_url=stack.relay_url
        ) as alice:
            events = alice.events()
            await collect(events, lambda s: s[-1].event == "recent")
            producer = asyncio.create_task(produce())
            try:
                seen = await collect(events, lambda s: len(notifications(s)) >= len(expected))
            finally:
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
                await events.aclose()
        assert notifications(seen) == expected
        ids = [e.id for e in seen if e.id is not None]
        assert len(ids) == len(set(ids))
        reconnects = [e.data["recovered"] for e in seen if e.event == "connected"]
        assert len(reconnects) >= 1
        assert all(reconnects)
        assert len(tokens) >= 3


def _decoded(raw: str, session: StreamSession) -> list[StreamEvent]:
    """What the client yields for ``raw`` wire bytes on one connection (httpx-sse decodes)."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, text=raw)
    session.opened()
    accepted = (session.accept(sse) for sse in EventSource(response).iter_sse())
    return [event for event in accepted if event is not None]


class TestStreamSession:
    """Frames become events the WHATWG way; ids are each event's own; none repeats."""

    def test_framing_ids_retry_and_what_is_not_an_event(self):
        session = StreamSession(None)
        raw = (
            "retry: 2500\n\n"  # a retry-only frame (the relay's first)
            'event: connected\ndata: {"recovered": false}\n\n'
            ": heartbeat\n\n"
            'event: notification\nid: 7-abc\ndata: {"a":\ndata: 1}\n\n'
            'event: stats\ndata: {"total": 1}\n\n'  # httpx-sse repeats 7-abc on it
            "id: 8-abc\n\n"  # id-only: moves the position, yields nothing
            "data: not json\n\n"
        )
        events = _decoded(raw, session)
        assert [(e.event, e.id, e.data) for e in events] == [
            ("connected", None, {"recovered": False}),
            ("notification", "7-abc", {"a": 1}),
            ("stats", None, {"total": 1}),
            ("message", None, "not json"),
        ]
        assert session.retry == 2.5
        assert session.last_event_id == "8-abc"
        assert session.headers() == {"Last-Event-ID": "8-abc"}

    def test_an_event_replayed_again_is_dropped(self):
        session = StreamSession("6-abc")
        frame = "event: notification\nid: 7-abc\ndata: {}\n\n"
        assert [e.id for e in _decoded(frame, session)] == ["7-abc"]
        again = (
            "event: connected\ndata: {}\n\n"
            + frame
            + "event: notification\nid: 9-abc\ndata: {}\n\n"
        )
        assert [e.id for e in _decoded(again, session)] == [None, "9-abc"]


class TestRefusals:
    """A refused connect is retried after the relay's ``Retry-After`` when it gives one."""

    def test_an_overloaded_relay_is_retried_after_its_retry_after(self):
        session = StreamSession(None)
        body = {"error": {"code": "overloaded", "message": "retry later"}}
        refused = httpx.Response(503, headers={"Retry-After": "4"}, json=body)
        assert session.refused(refused) >= 4

    def test_a_refusal_without_a_hint_backs_off_from_retry(self):
        session = StreamSession(None)
        body = {"error": {"code": "shutting_down", "message": "bye"}}
        first = session.refused(httpx.Response(503, json=body))
        second = session.refused(httpx.Response(503, json=body))
        assert 0 < first < second

"""Fixtures of the relay's tests: a relay on a real socket, a publisher, an SSE reader.

Every integration test gets its own RabbitMQ vhost (``rabbitmq_url``), so its
stream starts empty and no other test's events reach it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import httpx
import pytest
import uvicorn
from tests.support.servers import bound_socket, serving, wait_http_ok
from tests.support.sse_client import Frame, SseStream, parse_frames

from qahub_contracts.api import Notification, Stats
from qahub_contracts.auth import mint_token
from qahub_contracts.broker import declare_topology
from qahub_contracts.events import (
    DomainEvent,
    NotificationCreated,
    NotificationDeleted,
    NotificationUpdated,
    encode_event,
)
from qahub_contracts.topology import EXCHANGE
from stream_relay.app import create_app
from stream_relay.server import RelayServer
from stream_relay.settings import RelaySettings

SECRET = "relay-test-secret-0123456789abcdefghijklmnop"
MAX_AGE = "1h"


@dataclass
class RunningRelay:
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


def relay_settings(rabbitmq_url: str, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "rabbitmq_url": rabbitmq_url,
        "jwt_secret": SECRET,
        "event_log_max_age": MAX_AGE,
        "notifications_api_url": "http://127.0.0.1:9",  # nothing listens: the API is "down"
        "api_timeout_seconds": 1.0,
    }
    values.update(overrides)
    return RelaySettings(**values)


@pytest.fixture
async def start_relay(
    rabbitmq_url: str,
) -> AsyncIterator[Callable[..., Awaitable[RunningRelay]]]:
    """Start relays in this event loop on 127.0.0.1 (ready = caught up with the log)."""
    running: list[RunningRelay] = []

    async def start(**overrides: Any) -> RunningRelay:
        app = create_app(relay_settings(rabbitmq_url, **overrides))
        sock = bound_socket()
        config = uvicorn.Config(
            app, access_log=False, log_level="warning", lifespan="on", timeout_graceful_shutdown=3
        )
        server = RelayServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        relay = RunningRelay(f"http://127.0.0.1:{sock.getsockname()[1]}", server, task)
        running.append(relay)
        await wait_http_ok(f"{relay.base_url}/readyz", timeout=15)
        return relay

    yield start
    for relay in running:
        if not relay.task.done():
            await relay.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client:
        yield client


@pytest.fixture
async def open_stream(
    http: httpx.AsyncClient,
) -> AsyncIterator[Callable[..., Awaitable[SseStream]]]:
    """Open SSE streams (closed at the end of the test)."""
    streams: list[SseStream] = []

    async def open_(
        base_url: str,
        token: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        request = http.build_request(
            "GET", f"{base_url}/api/v1/notifications/stream", headers=all_headers, params=params
        )
        response = await http.send(request, stream=True)
        assert response.status_code == expect, response.status_code
        if expect != 200:
            await response.aread()
            await response.aclose()
            return response  # type: ignore[return-value]
        stream = SseStream(response)
        streams.append(stream)
        return stream

    yield open_
    for stream in streams:
        await stream.close()


class Publisher:
    """Publishes events as the API's outbox dispatcher does."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is None:
            self._exchange = await self.channel.get_exchange(EXCHANGE)
        return self._exchange

    async def publish(self, event: DomainEvent) -> None:
        await self.raw(encode_event(event), event.event_type, str(event.event_id))

    async def publish_all(self, events: Iterable[DomainEvent]) -> None:
        """Publish ``events`` one after another, in order."""
        for event in events:
            await self.publish(event)

    async def raw(self, body: bytes, routing_key: str, message_id: str | None = None) -> None:
        message = aio_pika.Message(
            body,
            content_type="application/json",
            message_id=message_id,
            type=routing_key,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await (await self.exchange()).publish(message, routing_key, mandatory=True)


@pytest.fixture
async def publisher(rabbitmq_url: str) -> AsyncIterator[Publisher]:
    connection = await aio_pika.connect(rabbitmq_url)
    await declare_topology(connection, MAX_AGE)
    channel = await connection.channel(publisher_confirms=True)
    yield Publisher(channel)
    await connection.close()


class Events:
    """Builds events the way the API would, keeping per-user stats consistent."""

    def __init__(self) -> None:
        self.stats: dict[str, Stats] = {}

    def _bump(self, user: str, total: int = 0, unread: int = 0) -> Stats:
        old = self.stats.get(user, Stats(total=0, unread=0, read=0))
        new_total, new_unread = old.total + total, old.unread + unread
        self.stats[user] = Stats(total=new_total, unread=new_unread, read=new_total - new_unread)
        return self.stats[user]

    def created(self, user: str, data: str | dict[str, Any] = "hello") -> NotificationCreated:
        notification = Notification(
            id=uuid4(),
            type="test",
            notifiable_id=user,
            data=data,
            read_at=None,
            created_at=datetime.now(UTC),
        )
        return NotificationCreated(
            user_id=user, stats=self._bump(user, 1, 1), notification=notification
        )

    def updated(self, created: NotificationCreated) -> NotificationUpdated:
        user = created.user_id
        notification = created.notification.model_copy(update={"read_at": datetime.now(UTC)})
        return NotificationUpdated(
            user_id=user, stats=self._bump(user, 0, -1), notification=notification
        )

    def deleted(self, user: str, notification_id: UUID, *, unread: bool) -> NotificationDeleted:
        return NotificationDeleted(
            user_id=user,
            stats=self._bump(user, -1, -1 if unread else 0),
            notification_id=notification_id,
        )


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def token() -> Callable[..., str]:
    def mint(sub: str, **kwargs: Any) -> str:
        return mint_token(SECRET, sub, **kwargs)

    return mint


@pytest.fixture
def parse_sse() -> Callable[[str], tuple[list[Frame], str]]:
    """httpx-sse's decoding, as the Python client reads (independent of ``stream_relay.sse``)."""
    return parse_frames


@dataclass
class FakeApi:
    """A stand-in notifications API: answers ``/snapshot`` (unless ``combined`` is off: an
    older API, 404), ``stats`` and the unread listing; ``delay`` holds each snapshot back."""

    base_url: str
    stats: dict[str, int]
    items: list[dict[str, Any]]
    authorizations: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    delay: float = 0.0
    combined: bool = True


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    from starlette.applications import Starlette  # noqa: PLC0415 - test-only server
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    sock = bound_socket()
    api = FakeApi(
        f"http://127.0.0.1:{sock.getsockname()[1]}",
        {"total": 7, "unread": 3, "read": 4, "unseen": 3},
        [],
    )

    async def stats(request: Request) -> JSONResponse:
        api.authorizations.append(request.headers.get("authorization", ""))
        await asyncio.sleep(api.delay)  # a slow API: live events arrive during the fetch
        return JSONResponse(api.stats)

    async def snapshot(request: Request) -> JSONResponse:
        api.paths.append(request.url.path)
        if not api.combined:
            return JSONResponse({"error": {"code": "not_found", "message": "?"}}, 404)
        api.authorizations.append(request.headers.get("authorization", ""))
        await asyncio.sleep(api.delay)
        return JSONResponse({"stats": api.stats, "recent": api.items})

    async def listing(request: Request) -> JSONResponse:
        api.authorizations.append(request.headers.get("authorization", ""))
        assert request.query_params["status"] == "unread"
        return JSONResponse({"items": api.items, "nextCursor": None})

    app = Starlette(
        routes=[
            Route("/api/v1/notifications/snapshot", snapshot),
            Route("/api/v1/notifications/stats", stats),
            Route("/api/v1/notifications", listing),
        ]
    )
    async with serving(app, sock):
        yield api

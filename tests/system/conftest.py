"""The whole system for real: the API and relays on loopback, sharing a vhost and a database."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.api.conftest import SECRET, Api, api_settings, migrate
from tests.support.servers import serving
from tests.support.sse_client import Frame, SseStream

from notifications_api.app import create_app as create_api
from stream_relay.app import create_app as create_relay
from stream_relay.settings import RelaySettings

_STREAM_TIMEOUT = httpx.Timeout(10, read=None)  # a stream may be quiet for long


def relay_settings(rabbitmq_url: str, api_url: str, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "rabbitmq_url": rabbitmq_url,
        "jwt_secret": SECRET,
        "jwt_public_key": None,
        "jwt_jwks_url": None,
        "notifications_api_url": api_url,
    }
    return RelaySettings(**{**values, **overrides})


@dataclass
class System:
    """The API and the relay URLs, with helpers to act as a service and as a browser."""

    api: Api
    api_url: str
    rabbitmq_url: str
    relay_urls: list[str]

    @contextlib.asynccontextmanager
    async def stream(
        self, user: str, *, relay: int = 0, last_event_id: str | None = None
    ) -> AsyncIterator[SseStream]:
        headers = {"Authorization": f"Bearer {self.api.auth(user)['Authorization'][7:]}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        async with httpx.AsyncClient(
            base_url=self.relay_urls[relay], timeout=_STREAM_TIMEOUT
        ) as http:
            request = http.build_request("GET", "/api/v1/notifications/stream", headers=headers)
            response = await http.send(request, stream=True)
            assert response.status_code == 200, await response.aread()
            stream = SseStream(response)
            try:
                yield stream
            finally:
                await stream.close()


def data(frame: Frame) -> Any:
    return json.loads(frame.data)


@pytest.fixture
async def system(database_url: str, rabbitmq_url: str) -> AsyncIterator[System]:
    """The API and two relays over one database and one vhost."""
    settings = api_settings(database_url, rabbitmq_url)
    await migrate(database_url)
    async with (
        serving(create_api(settings)) as api_url,
        httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        serving(create_relay(relay_settings(rabbitmq_url, api_url))) as relay_a,
        serving(create_relay(relay_settings(rabbitmq_url, api_url))) as relay_b,
    ):
        yield System(Api(http, settings), api_url, rabbitmq_url, [relay_a, relay_b])


Opener = Callable[..., contextlib.AbstractAsyncContextManager[SseStream]]

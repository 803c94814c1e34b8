"""An API served for real (uvicorn on loopback) over a fresh database and vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.support.servers import serving

from notifications_api.app import create_app
from notifications_api.database import create_engine
from notifications_api.migrations import upgrade
from notifications_api.settings import ApiSettings
from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

SECRET = "test-secret-that-is-long-enough-for-hs256"


async def migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@dataclass
class Api:
    """An HTTP client for the running API, with token helpers."""

    http: httpx.AsyncClient
    settings: ApiSettings

    def auth(self, sub: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(SECRET, sub, **claims)}"}

    def service(self) -> dict[str, str]:
        return self.auth("billing-service", scope=PUBLISH_SCOPE)

    async def create(
        self,
        to: str,
        data: object = "hello",
        type_: str = "test",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {"type": type_, "notifiableType": "user", "notifiableId": to, "data": data}
        headers = {**self.service(), **(headers or {})}
        response = await self.http.post("/api/v1/notifications", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def stats(self, user: str) -> dict[str, int]:
        response = await self.http.get("/api/v1/notifications/stats", headers=self.auth(user))
        assert response.status_code == 200, response.text
        return dict(response.json())


def api_settings(database_url: str, rabbitmq_url: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "rabbitmq_url": rabbitmq_url,
        "jwt_secret": SECRET,
        "jwt_public_key": None,
        "jwt_jwks_url": None,
        "outbox_poll_seconds": 0.2,
    }
    return ApiSettings(**{**values, **overrides})


@pytest.fixture
def settings(database_url: str, rabbitmq_url: str) -> ApiSettings:
    return api_settings(database_url, rabbitmq_url)


@asynccontextmanager
async def running_api(settings: ApiSettings) -> AsyncIterator[Api]:
    """The API with ``settings`` served on loopback, and a client of it (the database
    as the caller left it: migrate it first unless the test is about that)."""
    async with (
        serving(create_app(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        yield Api(http, settings)


@pytest.fixture
async def api(settings: ApiSettings) -> AsyncIterator[Api]:
    await migrate(settings.database_url)
    async with running_api(settings) as running:
        yield running


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    """The answer has ``status`` and DESIGN §4's one error shape (``code`` if given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code

"""A user token's request rate is limited (429 + Retry-After); others are unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.api.conftest import Api, api_settings, assert_error, migrate
from tests.support.servers import serving

from notifications_api.app import create_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def limited(database_url: str, rabbitmq_url: str) -> AsyncIterator[Api]:
    settings = api_settings(
        database_url, rabbitmq_url, rate_limit_per_second=2, rate_limit_burst=10
    )
    await migrate(database_url)
    async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        yield Api(http, settings)


class TestRateLimit:
    """Bursts beyond the bucket get 429; the limit is per user; services are exempt."""

    async def test_a_burst_beyond_the_bucket_gets_429(self, limited: Api):
        me = limited.auth("42")
        answers = await asyncio.gather(
            *(limited.http.get("/api/v1/notifications/stats", headers=me) for _ in range(30))
        )
        codes = [a.status_code for a in answers]
        assert codes.count(200) == 10
        refused = next(a for a in answers if a.status_code == 429)
        assert_error(refused, 429, "too_many_requests")
        assert int(refused.headers["retry-after"]) >= 1

    async def test_other_users_and_services_are_unaffected(self, limited: Api):
        for _ in range(15):
            await limited.http.get("/api/v1/notifications", headers=limited.auth("noisy"))
        quiet = await limited.http.get("/api/v1/notifications", headers=limited.auth("quiet"))
        assert quiet.status_code == 200
        for i in range(20):
            await limited.create("noisy", f"from a service {i}")

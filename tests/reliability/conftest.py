"""Fault-injection fixtures: real processes, real broker, real database; faults caused for real.

Each scenario records its ledger counts with ``report``; the table is printed at
the end of the run (and copied into docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import SECRET, api_settings, migrate
from tests.support.ledger import ZERO, Counts, Ledger
from tests.support.servers import ChildProcess, free_port, serving, wait_http_ok
from tests.support.subscriber import Subscriber

from notifications_api.app import create_app as create_api
from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

LONG = os.environ.get("QAHUB_RELIABILITY_LONG") == "1"
"""Full-length faults (the issue's durations) instead of CI's shortened ones."""


@pytest.fixture
def report(request: pytest.FixtureRequest):
    """Record a scenario's ledger counts (printed in the run's summary; see ledger_report)."""

    def record(fault: str, load: str, counts: Counts, recovery: str = "") -> None:
        request.node.user_properties.append(("ledger", [fault, load, *counts.astuple(), recovery]))

    return record


def user_token(user: str) -> str:
    return mint_token(SECRET, user, ttl_seconds=3600)


def service_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'writer', scope=PUBLISH_SCOPE)}"}


@dataclass
class Cluster:
    """The API (in-process) and relays (child processes we can SIGKILL)."""

    api_url: str
    rabbitmq_url: str
    tmp: Path
    relays: list[ChildProcess] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

    def relay_url(self, relay: ChildProcess) -> str:
        return f"http://127.0.0.1:{relay.args[relay.args.index('--port') + 1]}"

    @property
    def relay_urls(self) -> list[str]:
        return [self.relay_url(r) for r in self.relays]

    async def start_relay(
        self, port: int | None = None, rabbitmq_url: str | None = None, **extra_env: str
    ) -> ChildProcess:
        port = port or free_port()
        env = {
            "RABBITMQ_URL": rabbitmq_url or self.rabbitmq_url,
            "JWT_SECRET": SECRET,
            "NOTIFICATIONS_API_URL": self.api_url,
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        relay = ChildProcess(["relay", "--port", str(port)], env, self.tmp / f"relay-{port}.log")
        relay.start()
        await wait_http_ok(f"http://127.0.0.1:{port}/readyz", timeout=30)
        return relay

    async def restart(self, relay: ChildProcess) -> None:
        relay.kill()
        relay.start()
        await wait_http_ok(f"{self.relay_url(relay)}/readyz", timeout=30)

    def subscribers(self, users: list[str], tabs: int, **kw: Any) -> list[Subscriber]:
        return [
            Subscriber(u, lambda u=u: user_token(u), self.relay_urls, **kw)
            for u in users
            for _ in range(tabs)
        ]

    async def write(self, http: httpx.AsyncClient, user: str, text: str) -> bool:
        """One create; records it in the ledger when the API answered 201."""
        body = {"type": "ledger", "notifiableType": "user", "notifiableId": user, "data": text}
        try:
            response = await http.post(
                "/api/v1/notifications", json=body, headers=service_headers()
            )
        except httpx.HTTPError:
            return False
        if response.status_code != 201:
            return False
        self.ledger.commit(user, response.json()["id"])
        return True

    async def write_for(self, users: list[str], seconds: float, rate: float) -> None:
        """Each user gets creates one after another (so its commit order is its 201 order)."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=10) as http:

            async def writer(user: str) -> None:
                deadline, n = time.monotonic() + seconds, 0
                while time.monotonic() < deadline:
                    await self.write(http, user, f"{user}-{n}")
                    n += 1
                    await asyncio.sleep(len(users) / rate)

            await asyncio.gather(*(writer(u) for u in users))

    def check(self, subscribers: list[Subscriber]) -> Counts:
        total = ZERO
        for s in subscribers:
            total += self.ledger.check(s.user, s.received)
        return total

    async def settle(self, subscribers: list[Subscriber], timeout: float = 60) -> float:
        """Wait until every subscriber has everything committed for its user; seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if all(self.ledger.check(s.user, s.received).lost == 0 for s in subscribers):
                break
            await asyncio.sleep(0.1)
        return time.monotonic() - started


@pytest.fixture
async def cluster(database_url: str, rabbitmq_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    settings = api_settings(database_url, rabbitmq_url)
    await migrate(database_url)
    async with serving(create_api(settings)) as api_url:
        cluster = Cluster(api_url, rabbitmq_url, tmp_path)
        try:
            yield cluster
        finally:
            for relay in cluster.relays:
                relay.kill()

"""API faults: SIGKILL during a write burst; the database unreachable."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from tests.api.conftest import SECRET, api_settings, migrate
from tests.reliability.conftest import Cluster, service_headers, user_token
from tests.support.proxy import tcp_proxy
from tests.support.servers import ChildProcess, eventually, free_port, serving, wait_http_ok

from notifications_api.app import create_app as create_api

USERS = ["u1", "u2", "u3", "u4"]


async def _create_until_acknowledged(
    http: httpx.AsyncClient, user: str, text: str, deadline: float
) -> str | None:
    """What a careful client does: retry with the same Idempotency-Key until a 201."""
    body = {"type": "burst", "notifiableType": "user", "notifiableId": user, "data": text}
    headers = {**service_headers(), "Idempotency-Key": str(uuid.uuid4())}
    while time.monotonic() < deadline:
        try:
            response = await http.post("/api/v1/notifications", json=body, headers=headers)
            if response.status_code == 201:
                return str(response.json()["id"])
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)
    return None


class TestApiKilled:
    """The API SIGKILLed repeatedly during a write burst: every 201 is delivered, nothing extra."""

    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    async def test_repeated_sigkill_during_a_burst(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path, report
    ):
        await migrate(database_url)
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "JWT_SECRET": SECRET,
            "OUTBOX_POLL_SECONDS": "0.2",
        }
        api = ChildProcess(["api", "--port", str(port), "--no-migrate"], env, tmp_path / "api.log")
        api.start()
        cluster = Cluster(api_url, rabbitmq_url, tmp_path)
        try:
            await wait_http_ok(f"{api_url}/readyz", timeout=30)
            cluster.relays = [await cluster.start_relay()]
            subscribers = cluster.subscribers(USERS, 1)
            for s in subscribers:
                s.start()
            await eventually(lambda: _connected(subscribers), timeout=30, what="subscribers")
            deadline = time.monotonic() + 60

            async def writer(user: str) -> None:
                async with httpx.AsyncClient(base_url=api_url, timeout=5) as http:
                    for n in range(40):
                        nid = await _create_until_acknowledged(http, user, f"{user}-{n}", deadline)
                        assert nid is not None, "the API never came back"
                        cluster.ledger.commit(user, nid)

            async def killer() -> int:
                kills = 0
                for _ in range(3):
                    await asyncio.sleep(0.7)
                    api.kill()
                    kills += 1
                    api.start()
                    await wait_http_ok(f"{api_url}/healthz", timeout=30)
                return kills

            *_, kills = await asyncio.gather(*(writer(u) for u in USERS), killer())
            recovery = await cluster.settle(subscribers, timeout=60)
            for s in subscribers:
                await s.stop()
            counts = cluster.check(subscribers)
            report(
                f"API SIGKILL x{kills} during a burst", "4 writers x 40", counts, f"{recovery:.1f}s"
            )
            assert (counts.lost, counts.unexpected, counts.reordered) == (0, 0, 0), counts
            # No row without its 201 and no event without its row: stats == the ledger.
            async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
                for user in USERS:
                    auth = {"Authorization": f"Bearer {user_token(user)}"}
                    stats = (await http.get("/api/v1/notifications/stats", headers=auth)).json()
                    assert stats["total"] == len(cluster.ledger.committed[user])
        finally:
            api.kill()
            for relay in cluster.relays:
                relay.kill()


async def _connected(subscribers) -> bool:
    return all(s.connects >= 1 for s in subscribers)


class TestDatabaseUnreachable:
    """PostgreSQL unreachable: 503 with a clear error, recovery by itself, nothing half-written."""

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    async def test_database_cut_and_restored(self, database_url: str, rabbitmq_url: str, report):
        await migrate(database_url)
        parts = urlsplit(database_url)
        async with tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            via_proxy = urlunsplit(
                parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")
            )
            settings = api_settings(via_proxy, rabbitmq_url)
            async with (
                serving(create_api(settings)) as api_url,
                httpx.AsyncClient(base_url=api_url, timeout=10) as http,
            ):
                cluster = Cluster(api_url, rabbitmq_url, Path())
                assert await cluster.write(http, "u1", "before")
                await proxy.cut()
                started = time.monotonic()
                body = {"type": "t", "notifiableType": "user", "notifiableId": "u1", "data": "x"}
                during = await http.post(
                    "/api/v1/notifications", json=body, headers=service_headers()
                )
                assert during.status_code == 503, during.text
                assert during.json()["error"]["code"] == "unavailable"
                assert time.monotonic() - started < 5
                assert (await http.get("/readyz")).json()["database"] == "down"
                proxy.restore()

                async def writes_again() -> bool:
                    return await cluster.write(http, "u1", "after")

                await eventually(writes_again, timeout=30, what="the API to recover by itself")
                recovered_in = time.monotonic() - started
                auth = {"Authorization": f"Bearer {user_token('u1')}"}
                stats = (await http.get("/api/v1/notifications/stats", headers=auth)).json()
                items = (await http.get("/api/v1/notifications", headers=auth)).json()["items"]
        assert stats["total"] == len(items) == len(cluster.ledger.committed["u1"])
        report(
            "PostgreSQL unreachable (proxy cut)",
            "single writer",
            cluster.ledger.check("u1", [i["id"] for i in reversed(items)]),
            f"{recovered_in:.1f}s",
        )

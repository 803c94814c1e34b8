"""Commands survive an API killed mid-stream and a database outage (DESIGN §9)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx
import pytest
from tests.api.conftest import SECRET, Api, api_settings, migrate, running_api
from tests.commands.conftest import Sender, command
from tests.support.commands import wait_for_command_consumer
from tests.support.servers import child, eventually, free_port, wait_http_ok

from qahub_contracts.topology import COMMAND_DEAD_QUEUE, COMMAND_QUEUE

COUNT = 300


async def _total(http: httpx.AsyncClient, api: Api, user: str) -> int:
    response = await http.get("/api/v1/notifications/stats", headers=api.auth(user))
    return int(response.json()["total"]) if response.status_code == 200 else -1


async def _depth(rabbitmq_url: str, name: str) -> int:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0


async def _publish(rabbitmq_url: str, bodies: list[dict]) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        sender = Sender(await connection.channel(publisher_confirms=True))
        await asyncio.gather(*(sender.send(body) for body in bodies))


class TestKilledApi:
    """An API SIGKILLed with commands queued and in flight: each is created exactly once."""

    async def test_each_command_is_created_once(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path
    ):
        await migrate(database_url)
        port = free_port()
        env = {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "JWT_SECRET": SECRET,
            "COMMAND_PREFETCH": "32",
        }
        args = ["api", "--port", str(port), "--no-migrate"]
        base = f"http://127.0.0.1:{port}"
        api = Api(httpx.AsyncClient(), api_settings(database_url, rabbitmq_url))  # tokens only
        bodies = [command("42", {"n": i}) for i in range(COUNT)]
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            with child(args, env, tmp_path / "api-1.log") as first:
                await wait_http_ok(f"{base}/healthz")
                await wait_for_command_consumer(rabbitmq_url)
                await _publish(rabbitmq_url, bodies)
                await eventually(lambda: _some(http, api), timeout=30, what="some commands created")
                first.kill()
            with child(args, env, tmp_path / "api-2.log"):
                await wait_http_ok(f"{base}/healthz")

                async def all_created() -> bool:
                    return await _total(http, api, "42") >= COUNT

                await eventually(all_created, timeout=90, what=f"{COUNT} notifications")
                await eventually(
                    lambda: _drained(rabbitmq_url), timeout=10, what="the queue drained"
                )
                assert await _total(http, api, "42") == COUNT
                assert await _depth(rabbitmq_url, COMMAND_DEAD_QUEUE) == 0
                listed = await _all_data(http, api)
        assert sorted(d["n"] for d in listed) == list(range(COUNT))


async def _some(http: httpx.AsyncClient, api: Api) -> bool:
    return await _total(http, api, "42") >= COUNT // 10


async def _drained(rabbitmq_url: str) -> bool:
    return await _depth(rabbitmq_url, COMMAND_QUEUE) == 0


async def _all_data(http: httpx.AsyncClient, api: Api) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (
            await http.get("/api/v1/notifications", params=params, headers=api.auth("42"))
        ).json()
        items += [item["data"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return items


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
class TestDatabaseOutage:
    """While the database is unavailable commands wait: none dead-lettered, all created after."""

    async def test_paused_then_all_created(self, database_url: str, rabbitmq_url: str):
        name = urlsplit(database_url).path.lstrip("/")
        await migrate(database_url)
        settings = api_settings(database_url, rabbitmq_url)
        async with running_api(settings) as api:
            await wait_for_command_consumer(rabbitmq_url)
            await _publish(rabbitmq_url, [command("42", "before")])
            await eventually(lambda: _at_least(api.http, api, 1), timeout=10, what="the first")
            await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await _admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 - our name
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            try:
                await _publish(rabbitmq_url, [command("42", f"n{i}") for i in range(20)])
                await eventually(lambda: _paused(api.http, 1), timeout=15, what="paused")
                assert await _depth(rabbitmq_url, COMMAND_DEAD_QUEUE) == 0
            finally:
                await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await eventually(lambda: _at_least(api.http, api, 21), timeout=30, what="all created")
            await eventually(lambda: _paused(api.http, 0), timeout=10, what="resumed")
            assert await _total(api.http, api, "42") == 21
            assert await _depth(rabbitmq_url, COMMAND_DEAD_QUEUE) == 0
            metrics = (await api.http.get("/metrics")).text
            assert 'commands_total{code="",outcome="created"} 21.0' in metrics


async def _at_least(http: httpx.AsyncClient, api: Api, count: int) -> bool:
    return await _total(http, api, "42") >= count


async def _paused(http: httpx.AsyncClient, value: int) -> bool:
    return f"commands_paused {float(value)}" in (await http.get("/metrics")).text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
class TestPoisonCommand:
    """A command the database refuses while it answers is retried, then dead-lettered by the
    queue's delivery limit; the commands around it are created."""

    async def test_delivery_limit_and_the_others_created(
        self, database_url: str, rabbitmq_url: str
    ):
        await migrate(database_url)
        await _refuse_type(database_url, "poison")
        settings = api_settings(database_url, rabbitmq_url)
        async with running_api(settings) as api:
            await wait_for_command_consumer(rabbitmq_url)
            poison = command("42", "refused by a trigger", type="poison")
            await _publish(
                rabbitmq_url,
                [*(command("42", f"n{i}") for i in range(10)), poison, command("42", "last")],
            )
            await eventually(lambda: _at_least(api.http, api, 11), timeout=30, what="the others")
            await eventually(
                lambda: _dead(rabbitmq_url, 1), timeout=30, what="the poison dead-lettered"
            )
            assert await _total(api.http, api, "42") == 11


async def _refuse_type(database_url: str, type_: str) -> None:
    """Make the database itself refuse every notification of ``type_`` while it answers.

    (A value the contracts let through but PostgreSQL refuses: a NUL no longer is one,
    the input models refuse it first.)
    """
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        await connection.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;"
            " CREATE TRIGGER refuse BEFORE INSERT ON notifications FOR EACH ROW"
            f" WHEN (NEW.type = '{type_}') EXECUTE FUNCTION refuse();"
        )
    finally:
        await connection.close()


async def _dead(rabbitmq_url: str, count: int) -> bool:
    return await _depth(rabbitmq_url, COMMAND_DEAD_QUEUE) >= count

"""Several API processes starting at once on one empty PostgreSQL database (DESIGN §11)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import asyncpg
import pytest
from tests.api.conftest import SECRET
from tests.support.servers import ChildProcess, free_port, wait_http_ok_sync

from notifications_api.migrations import MIGRATION_LOCK_KEY

pytestmark = pytest.mark.postgres

WAITING = "another process is migrating this database"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _schema(url: str) -> tuple[list[str], list[str]]:
    connection = await asyncpg.connect(_dsn(url))
    try:
        versions = [r[0] for r in await connection.fetch("SELECT version_num FROM alembic_version")]
        tables = [
            r[0]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
    finally:
        await connection.close()
    return versions, tables


class _HeldLock:
    """The migration lock held by the test (in a thread's own event loop) until released."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._connection = self._loop.run_until_complete(asyncpg.connect(_dsn(url)))
        self._loop.run_until_complete(
            self._connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        )

    def release(self) -> None:
        if not self._connection.is_closed():
            self._loop.run_until_complete(self._connection.close())
            self._loop.close()


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class TestMigrationsOnce:
    """Three `qahub-notify api` started together apply the migrations once, and all serve."""

    def test_three_apis_on_an_empty_database(self, postgres, rabbitmq_url, tmp_path: Path):
        database_url = postgres.create_database()
        env = {"DATABASE_URL": database_url, "RABBITMQ_URL": rabbitmq_url, "JWT_SECRET": SECRET}
        apis = [
            ChildProcess(["api", "--port", str(free_port())], env, tmp_path / f"api-{i}.log")
            for i in range(3)
        ]
        # Held while they start, so all three reach the migrations before any may run
        # them; released, they race for it at the same instant.
        lock = _HeldLock(database_url)
        try:
            for api in apis:
                api.start()
            _wait_for(
                lambda: all(WAITING in api.log() for api in apis),
                timeout=60,
                what="every API to wait for the migration lock",
            )
            lock.release()
            for api in apis:
                port = api.args[api.args.index("--port") + 1]
                try:
                    wait_http_ok_sync(f"http://127.0.0.1:{port}/readyz", timeout=60)
                except AssertionError:
                    pytest.fail(f"an API did not start:\n{api.log()[-3000:]}")
            versions, tables = asyncio.run(_schema(database_url))
        finally:
            lock.release()
            for api in apis:
                api.terminate()
            with contextlib.suppress(Exception):
                postgres.drop_database(database_url)
        assert len(versions) == 1, versions
        assert "notifications" in tables
        for api in apis:
            assert "Traceback" not in api.log(), api.log()

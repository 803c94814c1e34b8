"""Real RabbitMQ and PostgreSQL for the tests (DESIGN §7).

Resolution order for each service: ``TEST_*_URL``, then ``*_URL``, then the
service on localhost if it answers, then a throwaway container
(testcontainers) where Docker exists. Every test gets its own RabbitMQ vhost
and its own PostgreSQL database, so tests never see each other's events/rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Broker:
    """A RabbitMQ node the tests may create vhosts on."""

    amqp_url: str
    management_url: str | None

    def url_for(self, vhost: str) -> str:
        parts = urlsplit(self.amqp_url)
        return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))

    def create_vhost(self, vhost: str) -> str:
        parts = urlsplit(self.amqp_url)
        user, password = parts.username or "guest", parts.password or "guest"
        if self.management_url and _answers(*_host_port(self.management_url)):
            api = f"{self.management_url}/api"
            name = quote(vhost, safe="")
            with httpx.Client(auth=(user, password), timeout=10) as http:
                http.put(f"{api}/vhosts/{name}").raise_for_status()
                perms = {"configure": ".*", "write": ".*", "read": ".*"}
                http.put(f"{api}/permissions/{name}/{user}", json=perms).raise_for_status()
        elif shutil.which("rabbitmqctl"):
            _ctl("add_vhost", vhost)
            _ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        else:
            pytest.fail("cannot create a RabbitMQ vhost: no management API and no rabbitmqctl")
        return self.url_for(vhost)

    def delete_vhost(self, vhost: str, attempts: int = 5) -> None:
        """Drop ``vhost``; retried, since a test may just have restarted or alarmed the node
        (a vhost left behind keeps its stream queue, and dozens of them slow the broker)."""
        parts = urlsplit(self.amqp_url)
        for attempt in range(attempts):
            try:
                if self.management_url and _answers(*_host_port(self.management_url)):
                    auth = (parts.username or "guest", parts.password or "guest")
                    with httpx.Client(auth=auth, timeout=30) as http:
                        url = f"{self.management_url}/api/vhosts/{quote(vhost, safe='')}"
                        if http.delete(url).status_code in (204, 404):
                            return
                elif shutil.which("rabbitmqctl"):
                    _ctl("delete_vhost", vhost)
                    return
            except (httpx.HTTPError, subprocess.SubprocessError):
                pass
            time.sleep(1 + attempt)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@dataclass
class Postgres:
    """A PostgreSQL server the tests may create databases on."""

    admin_dsn: str

    def create_database(self) -> str:
        name = f"qahub_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"'))
        parts = urlsplit(self.admin_dsn)
        return urlunsplit(parts._replace(scheme="postgresql+asyncpg", path=f"/{name}"))

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def _start_rabbitmq(stack: ExitStack) -> Broker:
    from testcontainers.community.rabbitmq import RabbitMqContainer  # noqa: PLC0415

    container = stack.enter_context(
        RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(15672)
    )
    host = container.get_container_host_ip()
    amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
    return Broker(amqp, f"http://{host}:{container.get_exposed_port(15672)}")


def _start_postgres(stack: ExitStack) -> Postgres:
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415

    container = stack.enter_context(PostgresContainer("postgres:16", driver=None))
    return Postgres(container.get_connection_url())


@pytest.fixture(scope="session")
def _containers() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def broker(_containers: ExitStack) -> Broker:
    """The RabbitMQ node under test."""
    url = _env("TEST_RABBITMQ_URL", "RABBITMQ_URL")
    if url is None and _answers("127.0.0.1", 5672):
        url = LOCAL_AMQP
    if url is None:
        return _start_rabbitmq(_containers)
    host = urlsplit(url).hostname or "127.0.0.1"
    management = _env("TEST_RABBITMQ_MANAGEMENT_URL") or f"http://{host}:15672"
    return Broker(url, management)


@pytest.fixture(scope="session")
def postgres(_containers: ExitStack) -> Postgres:
    """The PostgreSQL server under test."""
    url = _env("TEST_DATABASE_URL", "DATABASE_URL")
    if url is not None and url.startswith("postgresql"):
        parts = urlsplit(url)
        return Postgres(urlunsplit(parts._replace(scheme="postgresql")))
    if _answers("127.0.0.1", 5432):
        return Postgres(LOCAL_POSTGRES)
    return _start_postgres(_containers)


@pytest.fixture(scope="session")
def _cleanup() -> Iterator[ThreadPoolExecutor]:
    """Drops vhosts and databases in the background while the next tests run."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-cleanup") as pool:
        yield pool


@pytest.fixture
def rabbitmq_url(broker: Broker, _cleanup: ThreadPoolExecutor) -> Iterator[str]:
    """AMQP URL of a fresh vhost that only this test uses."""
    vhost = f"qahub-test-{uuid.uuid4().hex[:12]}"
    url = broker.create_vhost(vhost)
    yield url
    _cleanup.submit(broker.delete_vhost, vhost)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database: SQLite and PostgreSQL (each test runs on both)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "notifications.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    postgres: Postgres = request.getfixturevalue("postgres")
    cleanup: ThreadPoolExecutor = request.getfixturevalue("_cleanup")
    url = postgres.create_database()
    yield url
    cleanup.submit(postgres.drop_database, url)

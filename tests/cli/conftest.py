"""The command-line tools against the real system: API and relay on loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import SECRET, Api, api_settings, migrate
from tests.support.servers import ROOT, serving
from tests.system.conftest import relay_settings

from notifications_api.app import create_app as create_api
from stream_relay.app import create_app as create_relay


@dataclass
class Cli:
    """Runs ``qahub-notify`` in a child process with the test's ``JWT_SECRET``."""

    env: dict[str, str]

    async def run(self, *args: str, timeout: float = 30) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "qahub_notify.cli",
            *args,
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
def cli() -> Cli:
    return Cli({"JWT_SECRET": SECRET, "NOTIFICATIONS_API_URL": "http://127.0.0.1:9"})


@dataclass
class Stack:
    api: Api
    api_url: str
    relay_url: str


@pytest.fixture
async def stack(tmp_path: Path, rabbitmq_url: str) -> AsyncIterator[Stack]:
    """The API and one relay over SQLite and a fresh vhost."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await migrate(database_url)
    settings = api_settings(database_url, rabbitmq_url)
    async with (
        serving(create_api(settings)) as api_url,
        httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        serving(create_relay(relay_settings(rabbitmq_url, api_url))) as relay_url,
    ):
        yield Stack(Api(http, settings), api_url, relay_url)

"""The demo page in Debian's Chromium, driven by Playwright (never a downloaded browser).

The system runs for real on loopback: the API and the relay behind one origin
(as ``qahub-notify dev`` serves them), over SQLite and a fresh RabbitMQ vhost.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from tests.api.conftest import SECRET, Api, api_settings, migrate
from tests.support import node
from tests.support.servers import bound_socket, serving
from tests.system.conftest import relay_settings

from notifications_api.app import create_app as create_api
from qahub_contracts.auth import mint_token
from qahub_notify.single_origin import SingleOrigin
from stream_relay.app import create_app as create_relay

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
RETRY_MS = 250  # the browser's own reconnect delay (SSE `retry:`), short for the tests

# A shared, busy machine: every wait has a deadline, generous by default; the
# one-second promise is asserted with its own timeout.
expect.set_options(timeout=15_000)


@pytest.fixture
def chromium_path() -> Path:
    """Debian's Chromium; the tests skip only outside CI when it is not installed."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    """Headless Chromium, one per test (a launch takes about 0.3 s)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"


@dataclass
class Demo:
    """One origin serving the API, the stream and the demo page; a service client for it."""

    base: str
    api: Api

    def url(self, user: str, **claims: Any) -> str:
        return f"{self.base}/?token={mint_token(SECRET, user, **claims)}"


@pytest.fixture
async def demo(sqlite_url: str, rabbitmq_url: str) -> AsyncIterator[Demo]:
    """``qahub-notify dev`` in-process: API and relay behind one loopback origin."""
    await migrate(sqlite_url)
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = api_settings(sqlite_url, rabbitmq_url)
    app = SingleOrigin(
        create_api(settings),
        create_relay(relay_settings(rabbitmq_url, base, sse_retry_ms=RETRY_MS)),
    )
    async with serving(app, sock), httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield Demo(base, Api(http, settings))


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 900, "height": 700})
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


@pytest.fixture(scope="session")
def typescript_package() -> Path:
    """clients/typescript with its Node dependencies (esbuild, react) installed."""
    return node.typescript_package()

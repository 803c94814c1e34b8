"""``qahub-notify tail``: a terminal subscriber that reconnects with Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from tests.api.conftest import SECRET, Api, api_settings, migrate
from tests.cli.conftest import Cli, Stack
from tests.support.servers import ROOT, child, free_port, serving, wait_http_ok

from notifications_api.app import create_app as create_api


class Tail:
    """``qahub-notify tail`` in a child process; its stdout read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = 15) -> tuple[str, str, str]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert raw, "tail ended early"
        event, event_id, data = raw.decode().rstrip("\n").split(" ", 2)
        return event, event_id, data

    async def until(self, event: str, timeout: float = 15) -> list[tuple[str, str, str]]:
        seen = [await self.line(timeout)]
        for _ in range(100):
            if seen[-1][0] == event:
                return seen
            seen.append(await self.line(timeout))
        raise AssertionError(f"no {event} in {seen}")


@contextlib.asynccontextmanager
async def tail(*args: str) -> AsyncIterator[Tail]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qahub_notify.cli", "tail", "--max-seconds", "60", *args,
        env={**os.environ, "JWT_SECRET": SECRET}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield Tail(process)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


class TestTail:
    """It prints every event of the user and ends after --max-events."""

    async def test_prints_the_users_events_and_stops_after_max_events(self, stack: Stack):
        async with tail("--relay", stack.relay_url, "--user", "42", "--max-events", "5") as t:
            assert [e for e, _, _ in await t.until("recent")] == ["connected", "stats", "recent"]
            created = await stack.api.create("42", {"title": "Invoice paid"})
            event, event_id, data = await t.line()
            assert (event, json.loads(data)) == ("notification", created)
            assert event_id != "-"
            assert (await t.line())[0] == "stats"
            assert await asyncio.wait_for(t.process.wait(), 10) == 0

    async def test_a_refused_token_ends_it_with_one_line(self, stack: Stack, cli: Cli):
        code, out, err = await cli.run("tail", "--relay", stack.relay_url, "--token", "not-a-jwt")
        assert (code, out) == (1, "")
        assert err.startswith("error: the relay answered HTTP 401")

    async def test_reconnects_after_a_relay_crash_and_replays_what_it_missed(
        self, tmp_path: Path, rabbitmq_url: str
    ):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
        await migrate(database_url)
        settings = api_settings(database_url, rabbitmq_url)
        async with (
            serving(create_api(settings)) as api_url,
            httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        ):
            api, port = Api(http, settings), free_port()
            env = {
                "RABBITMQ_URL": rabbitmq_url,
                "JWT_SECRET": SECRET,
                "NOTIFICATIONS_API_URL": api_url,
                "SSE_RETRY_MS": "200",
            }
            relay = f"http://127.0.0.1:{port}"
            with child(["relay", "--port", str(port)], env, tmp_path / "relay-1.log") as first:
                await wait_http_ok(f"{relay}/readyz", timeout=30)
                async with tail("--relay", relay, "--user", "42") as t:
                    await t.until("recent")
                    await api.create("42", "seen")
                    await t.until("stats")
                    first.kill()
                    missed = [await api.create("42", f"missed {i}") for i in range(3)]
                    with child(["relay", "--port", str(port)], env, tmp_path / "relay-2.log"):
                        connected = await t.line(timeout=30)
                        assert connected[0] == "connected"
                        assert json.loads(connected[2])["recovered"] is True
                        replayed = [await t.line() for _ in range(3)]
                        assert [json.loads(d)["id"] for _, _, d in replayed] == [
                            n["id"] for n in missed
                        ]
                        assert (await t.line())[0] == "stats"

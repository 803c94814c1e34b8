"""The README's quick start from a fresh clone: `make run` starts it all and says how to use it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.servers import ROOT, free_port, wait_http_ok

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("git", "make", "uv", "curl")),
    reason="needs git, make, uv and curl",
)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this repository's HEAD (committed work only), environment not yet made."""
    target = tmp_path_factory.mktemp("clone") / "qahub-notifications"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=60)
    return target


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without its virtualenv or secrets, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "JWT_"))}
    return {**env, **extra}


class MakeRun:
    """``make run`` in its own process group, so SIGTERM reaches make, uv and the server."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []

    async def line_matching(self, pattern: str, *, timeout: float) -> re.Match[str]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while raw := await self.process.stdout.readline():
                self.output.append(raw.decode(errors="replace"))
                if match := re.search(pattern, self.output[-1]):
                    return match
        raise AssertionError(f"`make run` ended without {pattern!r}:\n{''.join(self.output)}")

    async def stop(self) -> int:
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        finally:
            if self.process.returncode is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()


async def make_run(clone: Path, port: int, env: dict[str, str]) -> MakeRun:
    process = await asyncio.create_subprocess_exec(
        "make", "--no-print-directory", "run", f"RUN_ARGS=--port {port}",
        cwd=clone, env=env, start_new_session=True,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return MakeRun(process)


@pytest.fixture
async def running(clone: Path, tmp_path: Path, rabbitmq_url: str) -> AsyncIterator[MakeRun]:
    env = clean_environment(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}",
        RABBITMQ_URL=rabbitmq_url,
    )
    run = await make_run(clone, free_port(), env)
    try:
        yield run
    finally:
        await run.stop()


class TestMakeRun:
    """Two README commands: `make run` prints a demo URL and a curl that works."""

    async def test_demo_url_answers_and_the_printed_curl_notifies_the_demo_user(
        self, running: MakeRun
    ):
        # The first run creates .venv from uv.lock (uv's cache makes it quick).
        url = (await running.line_matching(r"(http://\S+/\?token=(\S+))", timeout=180)).group(1)
        curl = (await running.line_matching(r"^\s*(curl -sS -X POST .*)$", timeout=10)).group(1)
        await wait_http_ok(url, timeout=60)
        async with httpx.AsyncClient(timeout=10) as http:
            page = await http.get(url)
            assert '<script type="module" src="/static/demo.js">' in page.text
            client = await http.get(url.split("/?", 1)[0] + "/static/qahub-notifications.js")
            assert "createInbox" in client.text  # served without Node: the bundle is committed
            sent = await asyncio.to_thread(
                subprocess.run, shlex.split(curl), capture_output=True, text=True, timeout=30
            )
            assert sent.returncode == 0, sent.stderr
            created = json.loads(sent.stdout)
            assert (created["notifiableId"], created["data"]) == ("demo", "Hello from curl")
            token = url.split("?token=", 1)[1]
            base = url.split("/?", 1)[0]
            stats = await http.get(
                f"{base}/api/v1/notifications/stats", headers={"Authorization": f"Bearer {token}"}
            )
            assert stats.json() == {"total": 1, "unread": 1, "read": 0, "unseen": 1}
        await running.stop()
        with pytest.raises(httpx.ConnectError):  # SIGTERM reached the server: the port is closed
            await asyncio.to_thread(httpx.get, url, timeout=5)
        assert "Traceback" not in "".join(running.output)

    async def test_without_rabbitmq_it_says_so_in_one_line(self, clone: Path, tmp_path: Path):
        env = clean_environment(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}",
            RABBITMQ_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        )
        run = await make_run(clone, free_port(), env)
        try:
            await run.line_matching(
                r"RabbitMQ is not reachable .*docker-compose\.ports\.yml up -d rabbitmq",
                timeout=180,
            )
            assert await asyncio.wait_for(run.process.wait(), 30) != 0
        finally:
            await run.stop()
        assert "Traceback" not in "".join(run.output)

"""A killed test run leaves nothing that trips up the next one: processes, vhosts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika
import httpx
import pytest
from tests.support.servers import eventually
from tests.support.services import Broker

from qahub_notify.testing._processes import _spawn
from qahub_notify.testing._vhost import STALE_AFTER_SECONDS, VirtualHost, _description

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG: Linux"),
]

# A test runner that starts a stack, says what it started, and waits to be killed.
RUNNER = """
import json, sys, time
from qahub_notify.testing import NotificationsStack
stack = NotificationsStack("local", rabbitmq_url=sys.argv[1])
stack.start()
backend = stack._backend
print(json.dumps({"pids": backend.pids, "vhost": backend._vhost.name}), flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still running after ``timeout`` seconds (none, once all are gone)."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line ``process`` prints; fails the test if none comes in time."""
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0]:
        pytest.fail(f"the runner printed nothing in {timeout}s (exit code {process.poll()})")
    return lines[0]


class TestKilledRunner:
    """The API and relay of a local stack die with the runner that started them."""

    def test_sigkill_of_the_runner_ends_the_api_and_the_relay(self, broker: Broker):
        env = {**os.environ, "RABBITMQ_MANAGEMENT_URL": broker.management_url or ""}
        runner = subprocess.Popen(
            [sys.executable, "-c", RUNNER, broker.amqp_url],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        pids: list[int] = []
        vhost: str | None = None
        try:
            started = json.loads(_first_line(runner, timeout=120))
            pids, vhost = [int(p) for p in started["pids"]], str(started["vhost"])
            assert len(pids) == 2
            assert all(_running(p) for p in pids)
            runner.send_signal(signal.SIGKILL)
            runner.wait(10)
            assert _wait_until_gone(pids, timeout=10) == [], "services outlived their runner"
        finally:
            runner.kill()
            runner.wait(10)
            runner.stdout.close()  # type: ignore[union-attr]
            for pid in _wait_until_gone(pids, timeout=0):
                os.kill(pid, signal.SIGKILL)  # only when the test failed: what it started
            if vhost is not None:
                broker.delete_vhost(vhost)

    def test_a_stack_started_from_a_thread_that_ended_keeps_its_processes(self, tmp_path):
        spawned: list[subprocess.Popen[bytes]] = []
        args = [sys.executable, "-c", "import time; time.sleep(60)"]
        starter = threading.Thread(
            target=lambda: spawned.append(_spawn(args, dict(os.environ), tmp_path / "log"))
        )
        starter.start()
        starter.join(30)
        try:
            assert _wait_until_gone([spawned[0].pid], timeout=1) == [spawned[0].pid]
        finally:
            spawned[0].kill()
            spawned[0].wait(10)


@dataclass
class Management:
    """The broker's management API, and the vhosts this test made through it."""

    http: httpx.Client
    user: str
    made: list[str] = field(default_factory=list)

    def leftover(self, *, pid: int, age: float, **owner: str) -> str:
        """A vhost as a stack of ``pid`` would have left it ``age`` seconds ago (``owner``:
        another host, PID namespace or start time than the real ones)."""
        name = f"qahub-stack-{uuid.uuid4().hex[:12]}"
        description = _description(pid, created=time.time() - age, **owner)
        self.http.put(f"/vhosts/{name}", json={"description": description}).raise_for_status()
        self.made.append(name)
        return name

    def exists(self, name: str) -> bool:
        return self.http.get(f"/vhosts/{quote(name, safe='')}").status_code == 200

    def create_stack_vhost(self, amqp_url: str) -> VirtualHost:
        made = VirtualHost.create(amqp_url)
        self.made.append(made.name)
        return made


@pytest.fixture
def management(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Iterator[Management]:
    """The broker's management API; every vhost made through it is dropped after the test."""
    if not broker.management_url:
        pytest.skip("the broker has no management API")
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", broker.management_url)
    parts = urlsplit(broker.amqp_url)
    auth = (parts.username or "guest", parts.password or "guest")
    with httpx.Client(base_url=f"{broker.management_url}/api", auth=auth, timeout=10) as http:
        management = Management(http, auth[0])
        try:
            yield management
        finally:
            for name in management.made:
                broker.delete_vhost(name)


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(30)
    return process.pid


class TestAbandonedVhosts:
    """A new stack drops the vhosts of killed runs of this host, and only those."""

    def test_a_dead_runs_old_vhost_is_dropped_others_are_kept(self, broker, management, dead_pid):
        old = STALE_AFTER_SECONDS + 60
        abandoned = [
            management.leftover(pid=dead_pid, age=old),
            management.leftover(pid=os.getpid(), age=old, start="1"),  # its pid was reused
        ]
        kept = {
            "its runner lives": management.leftover(pid=os.getpid(), age=old),
            "it may be starting": management.leftover(pid=dead_pid, age=0),
            "another host's": management.leftover(pid=dead_pid, age=old, host="elsewhere"),
            "another PID namespace's": management.leftover(pid=dead_pid, age=old, namespace="1"),
        }
        assert management.create_stack_vhost(broker.amqp_url).owned
        assert not any(management.exists(name) for name in abandoned)
        assert {why: management.exists(name) for why, name in kept.items()} == dict.fromkeys(
            kept, True
        )

    async def test_a_vhost_with_a_connection_open_is_kept(self, broker, management, dead_pid):
        name = management.leftover(pid=dead_pid, age=STALE_AFTER_SECONDS + 60)
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        management.http.put(f"/permissions/{name}/{management.user}", json=permissions)
        async with await aio_pika.connect(broker.url_for(name)):

            async def listed() -> bool:
                answer = await asyncio.to_thread(management.http.get, f"/vhosts/{name}/connections")
                return bool(answer.json())

            await eventually(listed, timeout=30, what="the connection in the management API")
            await asyncio.to_thread(management.create_stack_vhost, broker.amqp_url)
        assert management.exists(name)

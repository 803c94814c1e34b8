"""``python -m stream_relay`` as a real process: restarts, signals, logs, config errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

SECRET = "relay-test-secret-0123456789abcdefghijklmnop"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RelayProcess:
    def __init__(self, rabbitmq_url: str, log_path, **env: str) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            **os.environ,
            "RABBITMQ_URL": rabbitmq_url,
            "JWT_SECRET": SECRET,
            "EVENT_LOG_MAX_AGE": "1h",
            "NOTIFICATIONS_API_URL": "http://127.0.0.1:9",
            "API_TIMEOUT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stream_relay", "--port", str(self.port)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log_path.read_text()
                try:
                    if (await http.get(f"{self.base_url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail("relay process not ready:\n" + self.log_path.read_text())

    def wait(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def relay_process(rabbitmq_url, tmp_path):
    started: list[RelayProcess] = []

    def start(**env: str) -> RelayProcess:
        process = RelayProcess(rabbitmq_url, tmp_path / "relay.log", **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


class TestProcess:
    async def test_sigkilled_relay_restarts_and_replays_everything(
        self, relay_process, open_stream, publisher, events, token
    ):
        """After a SIGKILL the new process re-reads the log: the replay is complete."""
        relay = relay_process()
        await relay.ready()
        stream = await open_stream(relay.base_url, params={"token": token("alice")})
        await stream.connected()
        await publisher.publish(events.created("alice", "seen"))
        last_id = (await stream.until("notification"))[-1].id
        relay.process.send_signal(signal.SIGKILL)
        relay.wait()
        missed = [events.created("alice", {"n": i}) for i in range(20)]
        for event in missed:
            await publisher.publish(event)
        restarted = relay_process()
        await restarted.ready()
        again = await open_stream(
            restarted.base_url, token("alice"), headers={"Last-Event-ID": last_id}
        )
        assert (await again.connected())["recovered"] is True
        frames = await again.until("stats", timeout=10)
        got = [json.loads(f.data)["id"] for f in frames if f.event == "notification"]
        assert got == [str(e.notification.id) for e in missed]

    async def test_sigterm_closes_streams_and_exits_cleanly_without_logging_tokens(
        self, relay_process, open_stream, token, tmp_path
    ):
        """Streams end on SIGTERM; the exit code is 0; no ?token= value is ever logged."""
        relay = relay_process()
        await relay.ready()
        secret_token = token("alice")
        stream = await open_stream(
            relay.base_url, params={"token": secret_token, "lastEventId": "1-abc"}
        )
        await stream.connected()
        async with httpx.AsyncClient() as http:
            await http.get(f"{relay.base_url}/api/v1/notifications/stream?token=bad{secret_token}")
        relay.process.send_signal(signal.SIGTERM)
        assert await stream.ended(timeout=10)
        assert relay.wait() == 0
        logs = (tmp_path / "relay.log").read_text()
        assert "/api/v1/notifications/stream" in logs  # the one line per request is there
        assert secret_token not in logs
        assert secret_token.split(".")[1] not in logs
        assert "token=" not in logs

    async def test_uvicorns_own_lines_are_in_the_services_format(self, relay_process, tmp_path):
        """Bug: a malformed request's 400 and uvicorn's log lines were in uvicorn's format."""
        relay = relay_process()
        await relay.ready()
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nno colon\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # the relay closes after answering
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "bad_request"
        relay.process.send_signal(signal.SIGTERM)
        assert relay.wait() == 0
        lines = (tmp_path / "relay.log").read_text().splitlines()
        ours = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ uvicorn\.error \S")
        assert [line for line in lines if re.match(r"^[A-Z]+: +", line)] == []  # uvicorn's own
        assert any(ours.match(line) for line in lines)
        assert any('"- -" 400' in line for line in lines)  # its access line


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({"SSE_HEARTBEAT_SECONDS": "soon"}, "SSE_HEARTBEAT_SECONDS"),
            ({"MAX_STREAMS_PER_USER": "0"}, "MAX_STREAMS_PER_USER"),
            ({"EVENT_LOG_MAX_AGE": "forever"}, "EVENT_LOG_MAX_AGE"),
            ({"JWT_SECRET": "short"}, "JWT_SECRET"),
            ({"RABBITMQ_URL": "http://x"}, "RABBITMQ_URL"),
        ],
    )
    def test_bad_setting_prints_one_line_and_exits_2(self, env, variable):
        environment = {**os.environ, "JWT_SECRET": SECRET, **env}
        result = subprocess.run(
            [sys.executable, "-m", "stream_relay"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"config error: {variable}: ")

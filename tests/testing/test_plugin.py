"""The pytest plugin: cheap to load, fixtures that clean up even after a failing test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from tests.support.servers import ROOT
from tests.testing.conftest import run_pytest

FAILING_SUITE = """
import json, os

def test_fails_with_an_inbox_open(qahub_stack, qahub_inbox):
    inbox = qahub_inbox("42")
    report = {"mode": qahub_stack.mode, "api": qahub_stack.api_url,
              "stream": qahub_stack.stream_url, "amqp": qahub_stack.rabbitmq_url}
    with open(os.environ["KIT_REPORT"], "w") as out:
        json.dump(report, out)
    inbox.wait_for(type="never.sent", timeout=0.2)
"""


class TestLoading:
    """Installing qahub-notify registers the plugin; loading it starts and imports nothing."""

    def test_the_entry_point_names_the_plugin(self):
        plugins = {e.name: e.value for e in entry_points(group="pytest11")}
        assert plugins["qahub_notify"] == "qahub_notify.testing.plugin"

    def test_loading_imports_no_server_client_or_container_code(self):
        heavy = ["httpx", "pydantic", "notifications_api", "stream_relay", "testcontainers"]
        probe = (
            "import sys, qahub_notify.testing.plugin; "
            f"print([m for m in {heavy!r} if m in sys.modules])"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert out.stdout.strip() == "[]"

    def test_the_public_names_are_the_contracts(self):
        import qahub_notify.testing as kit  # noqa: PLC0415

        assert kit.__all__ == sorted(kit.__all__)
        assert set(kit.__all__) == {"Inbox", "Mode", "NotificationsStack", "StackError"}

    def test_the_option_is_offered(self, tmp_path: Path, broker):
        result = run_pytest(["--help"], tmp_path, broker)
        assert "--qahub-mode={auto,local,docker}" in result.stdout


class TestCleanUp:
    """A failing test still leaves no process, port or vhost behind."""

    @pytest.mark.timeout(300)
    def test_a_failing_test_leaves_nothing_running(self, tmp_path: Path, broker):
        (tmp_path / "test_inner.py").write_text(textwrap.dedent(FAILING_SUITE))
        report_path = tmp_path / "report.json"
        env = {"QAHUB_TEST_MODE": "local", "KIT_REPORT": str(report_path)}
        result = run_pytest(["-q", "test_inner.py"], tmp_path, broker, env)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1 failed" in result.stdout
        assert "received no notification with type='never.sent'" in result.stdout
        report = json.loads(report_path.read_text())
        assert report["mode"] == "local"
        for url in (report["api"], report["stream"]):
            port = urlsplit(url).port
            assert not _listening(url), f"{url} still answers"
            assert not _processes_with(f"--port {port}"), f"a process on {port} is left"
        vhost = unquote(urlsplit(report["amqp"]).path.removeprefix("/"))
        assert vhost.startswith("qahub-stack-")
        management = f"{broker.management_url}/api/vhosts/{vhost}"
        assert httpx.get(management, auth=("guest", "guest")).status_code == 404


def _listening(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.TransportError:
        return False
    return True


def _processes_with(argument: str) -> list[int]:
    """Pids of live processes whose command line contains ``argument``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if argument in cmdline:
                found.append(int(entry.name))
    return found

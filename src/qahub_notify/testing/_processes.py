"""The system's own processes, started for a local stack and always stopped again."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from qahub_notify.testing._errors import StackError

__all__ = ["ServiceProcess", "free_port", "service_command"]

_MODULES = {"api": "notifications_api", "relay": "stream_relay"}
_TAIL_CHARS = 2000


def free_port() -> int:
    """A loopback port nothing listens on right now (a start that loses the race retries)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_command(service: str) -> list[str]:
    """``qahub-notify <service>`` of this installation, else ``python -m <package>``."""
    script = Path(sys.executable).with_name("qahub-notify")
    if script.is_file():
        return [str(script), service]
    return [sys.executable, "-m", _MODULES[service]]


class ServiceProcess:
    """One service on ``127.0.0.1:port``, its output in ``log_path``."""

    def __init__(self, service: str, port: int, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - this installation's own services
                [*service_command(service), "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=log_path.parent,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, deadline: float) -> None:
        """Return once ``/readyz`` answers 200.

        Raises:
            StackError: the process exited or was not ready by ``deadline``.
        """
        import httpx  # noqa: PLC0415 - the pytest plugin loads this package: keep that cheap

        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise StackError(f"{self.service} exited ({self._process.returncode})")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                time.sleep(0.1)
        raise StackError(f"{self.service} on {self.url} was not ready in time")

    def port_taken(self) -> bool:
        """Whether it failed because another process took its port first."""
        return self._process.poll() is not None and "address already in use" in self.log().lower()

    def stop(self, grace: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns once it is gone."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def log(self) -> str:
        """Everything it wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self) -> str:
        return self.log()[-_TAIL_CHARS:]

"""The system's own processes, started for a local stack and always stopped again.

Stopped by :meth:`ServiceProcess.stop` normally; and on Linux they die with the
process that started them even when it cannot stop them (SIGKILLed test runner,
crash): each is started with ``PR_SET_PDEATHSIG`` = SIGKILL. The kernel sends that
signal when the *thread* that forked the child ends, not the process, so every
service is forked by one spawner thread that lives as long as the interpreter: a
stack started from a short-lived thread keeps its processes. Elsewhere (macOS,
Windows) nothing is set and a killed runner may leave them running.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from qahub_notify.testing._errors import StackError

__all__ = ["ServiceProcess", "free_port", "service_command"]

_MODULES = {"api": "notifications_api", "relay": "stream_relay"}
_TAIL_CHARS = 2000
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_spawner: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent goes.

    ``None`` off Linux. libc and the parent's pid are looked up here, before the
    fork, so the child only makes two system calls before ``exec``.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` from the spawner thread (see the module's docstring)."""
    global _spawner  # noqa: PLW0603 - one spawner thread per interpreter, made on first use
    with _spawner_lock:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, "qahub-stack-spawner")
        spawner = _spawner

    def popen() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(  # noqa: S603 - this installation's own services
                args,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=log_path.parent,
                # Takes no lock a thread could hold at the fork: a prctl and getppid.
                preexec_fn=_die_with_parent(),  # noqa: PLW1509
            )

    return spawner.submit(popen).result()


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
        args = [*service_command(service), "--host", "127.0.0.1", "--port", str(port)]
        self._process = _spawn(args, env, log_path)

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

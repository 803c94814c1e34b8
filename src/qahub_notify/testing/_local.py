"""Local mode: the system's processes on free loopback ports, against a given RabbitMQ.

One API and one relay, started with ``qahub-notify api``/``relay`` of this installation,
each with the stack's own variables only (any service variable of the caller's
environment is left out, so a ``JWT_AUDIENCE`` set for something else cannot break the
stack's tokens): a fresh ``JWT_SECRET``, SQLite in a temporary directory unless a
``database_url`` is given, and a RabbitMQ vhost of the stack's own (see ``_vhost``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from qahub_notify.testing._errors import StackError
from qahub_notify.testing._processes import ServiceProcess, free_port
from qahub_notify.testing._vhost import VirtualHost

__all__ = ["DEFAULT_RABBITMQ_URL", "LocalStack"]

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@localhost:5672/"
_START_SECONDS = 90.0
_PORT_ATTEMPTS = 3


class LocalStack:
    """The processes, directory and vhost of one local stack; :meth:`stop` removes them all."""

    def __init__(self, rabbitmq_url: str | None, database_url: str | None, jwt_secret: str) -> None:
        self._broker_url = rabbitmq_url or os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
        self._database_url = database_url
        self.jwt_secret = jwt_secret
        self.api_url = self.stream_url = self.rabbitmq_url = ""
        self._directory: Path | None = None
        self._vhost: VirtualHost | None = None
        self._processes: list[ServiceProcess] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the running services."""
        return [process.pid for process in self._processes]

    def start(self) -> None:
        """Start the API and a relay and wait until both answer ``/readyz``.

        Raises:
            StackError: a service did not become ready (the message ends with its log).
        """
        try:
            self._directory = Path(tempfile.mkdtemp(prefix="qahub-stack-"))
            self._vhost = VirtualHost.create(self._broker_url)
            self.rabbitmq_url = self._vhost.amqp_url
            for attempt in range(_PORT_ATTEMPTS):
                if self._start_services(last_attempt=attempt + 1 == _PORT_ATTEMPTS):
                    return
        except BaseException:
            self.stop()
            raise

    def _start_services(self, *, last_attempt: bool) -> bool:
        """Both services up (True), or a port was taken meanwhile and they are stopped (False)."""
        directory = self._directory or Path()
        api_port, relay_port = free_port(), free_port()
        env = self._environment()
        api = ServiceProcess("api", api_port, env, directory / "api.log")
        self._processes.append(api)
        relay_env = {**env, "NOTIFICATIONS_API_URL": api.url}
        relay = ServiceProcess("relay", relay_port, relay_env, directory / "relay.log")
        self._processes.append(relay)
        deadline = time.monotonic() + _START_SECONDS
        for process in (api, relay):
            try:
                process.wait_ready(deadline)
            except StackError as exc:
                if not last_attempt and (api.port_taken() or relay.port_taken()):
                    self._stop_processes()
                    return False
                msg = f"{exc}; its log ({process.log_path.name}) ends with:\n{process.log_tail()}"
                raise StackError(msg) from None
        self.api_url, self.stream_url = api.url, relay.url
        return True

    def _environment(self) -> dict[str, str]:
        from notifications_api.settings import ApiSettings  # noqa: PLC0415 - only when started
        from stream_relay.settings import RelaySettings  # noqa: PLC0415 - only when started

        ours = {name.upper() for cls in (ApiSettings, RelaySettings) for name in cls.model_fields}
        env = {name: value for name, value in os.environ.items() if name.upper() not in ours}
        directory = self._directory or Path()
        database = self._database_url or f"sqlite+aiosqlite:///{directory / 'notifications.db'}"
        return {
            **env,
            "RABBITMQ_URL": self.rabbitmq_url,
            "DATABASE_URL": database,
            "JWT_SECRET": self.jwt_secret,
        }

    def stop(self) -> None:
        """Stop every process, then drop the vhost and the directory (idempotent)."""
        try:
            self._stop_processes()
        finally:
            if self._vhost is not None:
                self._vhost.delete()
                self._vhost = None
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None

    def _stop_processes(self) -> None:
        while self._processes:
            self._processes.pop().stop()

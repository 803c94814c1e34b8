"""Docker mode: RabbitMQ and the project's image on one network, with testcontainers.

The containers are set up as ``docker-compose.yml`` sets up its services, with the same
images, commands, network names and variables (``tests/deploy`` checks it), except that
the API keeps SQLite inside its container unless a ``database_url`` is given, there is
one relay, and each stack has a ``JWT_SECRET`` of its own. Nothing is published on a
fixed host port: the host reaches each container through the port Docker picked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qahub_notify.testing._errors import StackError

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

__all__ = [
    "DEFAULT_IMAGE",
    "RABBITMQ_IMAGE",
    "ContainerSpec",
    "DockerStack",
    "container_specs",
    "docker_unavailable",
]

DEFAULT_IMAGE = "qahub-notify:latest"
"""The tag ``docker compose build`` (and ``docker build -t qahub-notify .``) gives the image."""
RABBITMQ_IMAGE = "rabbitmq:3.13-management"
_BROKER = "amqp://guest:guest@rabbitmq:5672/"
_START_SECONDS = 120
_DEFAULT_SOCKET = "/var/run/docker.sock"  # where the Docker SDK looks without DOCKER_HOST


@dataclass(frozen=True)
class ContainerSpec:
    """One container: its name on the network (compose's service name) and how it runs."""

    alias: str
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    port: int
    ready_path: str | None = None  # ready when it answers 200 here, else when...
    ready_command: tuple[str, ...] = ()  # ...this command succeeds inside the container


def container_specs(
    image: str, jwt_secret: str, database_url: str | None = None
) -> tuple[ContainerSpec, ContainerSpec, ContainerSpec]:
    """The broker, the API and one relay, as compose runs them."""
    shared = {"RABBITMQ_URL": _BROKER, "JWT_SECRET": jwt_secret, "EVENT_LOG_MAX_AGE": "24h"}
    api_env = {
        **shared,
        "DATABASE_URL": database_url or "sqlite+aiosqlite:////app/notifications.db",
        "MAX_BODY_BYTES": "65536",
        "CORS_ORIGINS": "",
    }
    relay_env = {
        **shared,
        "NOTIFICATIONS_API_URL": "http://notifications-api:8000",
        "SSE_HEARTBEAT_SECONDS": "15",
        "SSE_RETRY_MS": "3000",
        "MAX_STREAMS_PER_USER": "10",
        "RELAY_STATE_DIR": "/app/relay-state",
    }
    serve = ("--host", "0.0.0.0")  # noqa: S104 - inside its container, on the stack's network
    return (
        ContainerSpec(
            "rabbitmq",
            RABBITMQ_IMAGE,
            (),
            {},
            5672,
            ready_command=("rabbitmq-diagnostics", "-q", "ping"),
        ),
        ContainerSpec(
            "notifications-api",
            image,
            ("qahub-notify", "api", *serve, "--port", "8000"),
            api_env,
            8000,
            "/readyz",
        ),
        ContainerSpec(
            "stream-relay-1",
            image,
            ("qahub-notify", "relay", *serve, "--port", "8001"),
            relay_env,
            8001,
            "/readyz",
        ),
    )


def docker_unavailable() -> str | None:
    """Why docker mode cannot run here, or ``None`` when a Docker engine answers."""
    try:
        import docker  # noqa: PLC0415 - optional: installed with testcontainers
        import testcontainers.core.container  # noqa: F401, PLC0415 - optional, as above
    except ImportError:
        return "testcontainers is not installed (pip install 'qahub-notify[docker]')"
    if not os.environ.get("DOCKER_HOST") and not Path(_DEFAULT_SOCKET).exists():
        return f"no Docker engine answers (DOCKER_HOST is unset and {_DEFAULT_SOCKET} is missing)"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine", said as such
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


class DockerStack:
    """The network and containers of one docker stack; :meth:`stop` removes them all."""

    def __init__(self, image: str | None, database_url: str | None, jwt_secret: str) -> None:
        self._image = image or os.environ.get("QAHUB_NOTIFY_IMAGE") or DEFAULT_IMAGE
        self._database_url = database_url
        self.jwt_secret = jwt_secret
        self.api_url = self.stream_url = self.rabbitmq_url = ""
        self._network: Network | None = None
        self._containers: list[DockerContainer] = []

    def start(self) -> None:
        """Start the broker, the API and a relay, each waited for (``/readyz`` for the two).

        Raises:
            StackError: no engine, or a container did not become ready.
        """
        if (reason := docker_unavailable()) is not None:
            raise StackError(f"docker mode: {reason}")
        from testcontainers.core.network import Network  # noqa: PLC0415 - optional dependency

        try:
            self._network = Network().create()
            specs = container_specs(self._image, self.jwt_secret, self._database_url)
            broker, api, relay = (self._run(spec) for spec in specs)
            host = broker.get_container_host_ip()
            self.rabbitmq_url = f"amqp://guest:guest@{host}:{broker.get_exposed_port(5672)}/"
            self.api_url = f"http://{host}:{api.get_exposed_port(8000)}"
            self.stream_url = f"http://{host}:{relay.get_exposed_port(8001)}"
        except BaseException as exc:
            self.stop()
            if isinstance(exc, Exception) and not isinstance(exc, StackError):
                missing = any(m in str(exc).lower() for m in ("not found", "pull access denied"))
                hint = " (build it first: docker build -t qahub-notify .)" if missing else ""
                raise StackError(f"docker mode, image {self._image}{hint}: {exc}") from exc
            raise

    def _run(self, spec: ContainerSpec) -> DockerContainer:
        from testcontainers.core.container import DockerContainer  # noqa: PLC0415 - optional
        from testcontainers.core.wait_strategies import (  # noqa: PLC0415 - optional
            ExecWaitStrategy,
            HttpWaitStrategy,
        )

        strategy: Any = (
            ExecWaitStrategy(list(spec.ready_command))
            if spec.ready_path is None
            else HttpWaitStrategy(spec.port, spec.ready_path)
        )
        container = DockerContainer(spec.image).with_exposed_ports(spec.port)
        if spec.command:
            container = container.with_command(list(spec.command))
        container = container.with_envs(**spec.environment)
        if self._network is not None:
            container = container.with_network(self._network).with_network_aliases(spec.alias)
        self._containers.append(container)
        container.waiting_for(strategy.with_startup_timeout(_START_SECONDS)).start()
        return container

    def stop(self) -> None:
        """Remove every container, then the network (idempotent); one failure stops no other."""
        failures: list[Exception] = []
        while self._containers:
            try:
                self._containers.pop().stop()
            except Exception as exc:  # noqa: BLE001 - collected, raised after the rest is gone
                failures.append(exc)
        if self._network is not None:
            try:
                self._network.remove()
            except Exception as exc:  # noqa: BLE001 - as above
                failures.append(exc)
            self._network = None
        if failures:
            raise StackError(f"docker mode: clean-up failed: {failures!r}")

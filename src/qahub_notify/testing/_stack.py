"""``NotificationsStack``: the whole system for one test session, and its doors."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Literal, Protocol, Self

from qahub_notify.testing._inbox import Inbox

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qahub_notify_client import NotificationsClient, StreamEvent

__all__ = ["Mode", "NotificationsStack", "choose_mode"]

Mode = Literal["auto", "local", "docker"]
_MODES = ("auto", "local", "docker")


class _Backend(Protocol):
    jwt_secret: str
    api_url: str
    stream_url: str
    rabbitmq_url: str

    def start(self) -> None: ...
    def stop(self) -> None: ...


class NotificationsStack:
    """QaHub Notifications (API, relay, RabbitMQ) for integration tests; a context manager.

    ``mode="local"`` starts the system's processes on free loopback ports against
    ``rabbitmq_url`` (else ``RABBITMQ_URL``, else ``amqp://guest:guest@localhost:5672/``) in
    a vhost of the stack's own, with SQLite in a temporary directory unless
    ``database_url`` is given. ``mode="docker"`` starts RabbitMQ and ``image`` (else
    ``QAHUB_NOTIFY_IMAGE``, else ``qahub-notify:latest``) with testcontainers on one network.
    ``mode="auto"`` is docker where a Docker engine answers and no ``rabbitmq_url`` is given,
    else local. Either way the stack waits for ``/readyz`` and signs tokens with a
    ``JWT_SECRET`` of its own. Leaving the ``with`` block (a failing test included) closes
    every inbox and stops every process, vhost, container and network it started.

    Raises:
        StackError: on entering, when the system could not start (the message says why).
    """

    def __init__(
        self,
        mode: Mode = "auto",
        rabbitmq_url: str | None = None,
        database_url: str | None = None,
        image: str | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if mode == "docker" and rabbitmq_url is not None:
            raise ValueError("rabbitmq_url is for local mode; docker mode runs its own RabbitMQ")
        self._requested: Mode = mode
        self._rabbitmq_url = rabbitmq_url
        self._database_url = database_url
        self._image = image
        self._backend: _Backend | None = None
        self._inboxes: list[Inbox] = []
        self._clients: list[NotificationsClient] = []
        self.mode: Literal["local", "docker"] | None = None
        """The mode this stack runs in, once started."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the system and wait until it is ready (``with`` calls it)."""
        from qahub_notify.testing._docker import DockerStack  # noqa: PLC0415 - when started
        from qahub_notify.testing._local import LocalStack  # noqa: PLC0415 - as above

        if self._backend is not None:
            return
        mode = choose_mode(self._requested, rabbitmq_url=self._rabbitmq_url)
        backend: _Backend
        if mode == "docker":
            backend = DockerStack(self._image, self._database_url, secrets.token_urlsafe(48))
        else:
            backend = LocalStack(self._rabbitmq_url, self._database_url, secrets.token_urlsafe(48))
        backend.start()
        self._backend, self.mode = backend, mode

    def stop(self) -> None:
        """Close every inbox, then stop everything the stack started (idempotent)."""
        try:
            while self._inboxes:
                self._inboxes.pop().close()
            while self._clients:
                self._clients.pop().close()
        finally:
            backend, self._backend = self._backend, None
            if backend is not None:
                backend.stop()

    @property
    def api_url(self) -> str:
        """Base URL of the notifications API (``POST /api/v1/notifications`` and the rest)."""
        return self._started().api_url

    @property
    def stream_url(self) -> str:
        """Base URL of the stream relay (``GET /api/v1/notifications/stream``)."""
        return self._started().stream_url

    @property
    def rabbitmq_url(self) -> str:
        """AMQP URL of the stack's broker and vhost (for §9 commands)."""
        return self._started().rabbitmq_url

    def token(
        self, sub: str, *, scope: str | None = None, role: str | None = None, ttl: int = 3600
    ) -> str:
        """A JWT for ``sub`` the stack accepts (``scope="notifications:publish"``: a service)."""
        from qahub_contracts.auth import mint_token  # noqa: PLC0415 - keeps plugin load cheap

        secret = self._started().jwt_secret
        return mint_token(secret, sub, ttl_seconds=ttl, scope=scope, role=role)

    def client(self, token: str) -> NotificationsClient:
        """The Python client (``qahub_notify_client``) on this stack's API and relay, as
        ``token``; closed with the stack if not before."""
        from qahub_notify_client import NotificationsClient  # noqa: PLC0415 - cheap plugin load

        client = NotificationsClient(self.api_url, token, stream_url=self.stream_url)
        self._clients.append(client)
        return client

    def inbox(self, user: str) -> Inbox:
        """A connected subscriber of ``user``'s stream (live once this returns); closed by
        its ``close()`` or when the stack stops."""
        from qahub_notify_client import AsyncNotificationsClient  # noqa: PLC0415 - as above

        api_url, stream_url = self.api_url, self.stream_url

        def token() -> str:  # a fresh one on every connect: a stream ends when its token expires
            return self.token(user)

        async def source() -> AsyncIterator[StreamEvent]:
            async with AsyncNotificationsClient(api_url, token, stream_url=stream_url) as client:
                async for event in client.events():
                    yield event

        inbox = Inbox(user, source)
        self._inboxes = [*(i for i in self._inboxes if not i.closed), inbox]
        return inbox.open()

    def _started(self) -> _Backend:
        if self._backend is None:
            raise RuntimeError(
                "the stack is not running: use it inside `with NotificationsStack()`"
            )
        return self._backend


def choose_mode(requested: Mode, *, rabbitmq_url: str | None) -> Literal["local", "docker"]:
    """``auto`` is docker where a Docker engine answers and no broker was given, else local."""
    if requested != "auto":
        return requested
    from qahub_notify.testing._docker import docker_unavailable  # noqa: PLC0415 - optional

    return "docker" if rabbitmq_url is None and docker_unavailable() is None else "local"

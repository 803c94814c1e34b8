"""Where the broker is: the nodes of ``RABBITMQ_URL``, TLS, and fail-over (DESIGN §12).

Every connection of both services goes through :class:`BrokerEndpoints`:

- ``RABBITMQ_URL`` lists one or more nodes, comma-separated, each a full
  ``amqp://`` or ``amqps://`` URL, all of one kind (a fail-over never leaves TLS);
- :meth:`BrokerEndpoints.connect` tries them in order, starting with the node
  that answered last time, and returns the first connection that opens; when a
  connection's node goes away, the caller's reconnect calls it again and it moves
  on to the next node (a refused node costs nothing, an unreachable one costs
  ``timeout`` before the next is tried);
- a connection that reconnects by itself (aio-pika's robust connection, which
  FastStream uses) is pointed at the next node when it loses its own:
  :meth:`BrokerEndpoints.fail_over` is its close callback (FastStream's ``on_close``);
- an ``amqps://`` node is reached with one TLS context built from
  ``RABBITMQ_CA_FILE`` (a private CA; else the system's CAs) and
  ``RABBITMQ_CERT_FILE`` / ``RABBITMQ_KEY_FILE`` (a client certificate), with the
  host name checked against the server's certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.connection import make_url
from yarl import URL

__all__ = ["BrokerEndpoints", "TlsFiles", "parse_urls", "redact"]

log = logging.getLogger("qahub_contracts.amqp_endpoints")

T = TypeVar("T")


def parse_urls(value: str) -> tuple[str, ...]:
    """The node URLs of a ``RABBITMQ_URL`` value (comma-separated, blanks ignored).

    Raises:
        ValueError: no URL, one that is not ``amqp://`` / ``amqps://`` with a host, or a
            list of both kinds (a fail-over must never move a connection off TLS).
    """
    urls = tuple(part.strip() for part in value.split(",") if part.strip())
    if not urls:
        raise ValueError("must name at least one node, like amqp://guest:guest@localhost:5672/")
    for url in urls:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"{redact(url)} must start with amqp:// or amqps://")
        try:
            host = URL(url).host
        except ValueError:
            host = None
        if not host:
            raise ValueError(f"{redact(url)} names no host")
    if len({url.split("://", 1)[0] for url in urls}) > 1:
        raise ValueError("mixes amqp:// and amqps:// nodes: fail-over could leave TLS")
    return urls


def redact(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    try:
        parsed = URL(url)
    except ValueError:
        return "<unparsable URL>"
    return str(parsed.with_password(None)) if parsed.password else url


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """``RABBITMQ_CA_FILE``, ``RABBITMQ_CERT_FILE`` and ``RABBITMQ_KEY_FILE``."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A client context: server certificate and host name verified, TLS 1.2 or later.

        Raises:
            OSError: a file cannot be read.
            ssl.SSLError: a file is not a PEM certificate or key, or the key does
                not match the certificate.
        """
        ca = str(self.ca_file) if self.ca_file else None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None:
            key = str(self.key_file) if self.key_file else None
            context.load_cert_chain(str(self.cert_file), key)
        return context


class BrokerEndpoints:
    """The broker's nodes and how to reach them; every connection opens through here."""

    def __init__(self, urls: Sequence[str], tls: TlsFiles | None = None) -> None:
        if not urls:
            raise ValueError("at least one node URL")
        self.urls = tuple(urls)
        self._tls = tls or TlsFiles()
        self._context: ssl.SSLContext | None = None
        self._next = 0  # the node that answered last (tried first next time)

    @classmethod
    def parse(cls, value: str, tls: TlsFiles | None = None) -> BrokerEndpoints:
        """Endpoints of a ``RABBITMQ_URL`` value (see :func:`parse_urls`)."""
        return cls(parse_urls(value), tls)

    def ssl_context(self, url: str) -> ssl.SSLContext | None:
        """The TLS context for ``url`` (``None`` for ``amqp://``); built once, shared."""
        if not url.startswith("amqps://"):
            return None
        if self._context is None:
            self._context = self._tls.context()
        return self._context

    def ordered(self) -> list[str]:
        """The nodes in the order the next connection tries them."""
        start = self._next % len(self.urls)
        return [*self.urls[start:], *self.urls[:start]]

    def move_past(self, url: str) -> None:
        """Have the next connection try the node after ``url`` first (``url``'s node went away).

        For a connection that is reopened by hand rather than by aio-pika's robust
        connection (which :meth:`fail_over` serves): a lost node is tried last, so a
        node that vanished without refusing costs no ``timeout`` before the others
        (:attr:`last_answered` names that next node until a connection opens).
        """
        if url in self.urls:
            self._next = (self.urls.index(url) + 1) % len(self.urls)

    @property
    def last_answered(self) -> str:
        """The node that answered the latest connection (the first one before any)."""
        return self.urls[self._next]

    async def first_answering(self, *, timeout: float = 5.0) -> str:
        """The URL of the first node that opens an AMQP connection now (closed again).

        For a client that connects by itself (FastStream): pointing it at a node that
        just answered spares it a failed attempt, which leaves a half-made
        connection behind.

        Raises:
            Exception: the last node's error, when none answers.
        """
        connection = await self.connect_aio_pika(name="qahub-probe", timeout=timeout)
        await connection.close()
        return self.last_answered

    def fail_over(self, connection: object, *_: object) -> None:
        """Point a robust connection that just lost its node at the next node.

        An aio-pika close callback (FastStream: ``RabbitBroker(on_close=[...])``):
        aio-pika then reconnects to ``connection.url``, which is now the node after
        the one it was on. Closing it on purpose changes nothing that matters.
        """
        url = getattr(connection, "url", None)
        if not isinstance(url, URL) or len(self.urls) < 2:
            return
        index = next(
            (i for i, u in enumerate(self.urls) if _same_node(URL(u), url)), self._next - 1
        )
        following = self.urls[(index + 1) % len(self.urls)]
        connection.url = make_url(following)  # type: ignore[attr-defined]
        log.warning(
            "broker node %s went away; reconnecting to %s", redact(str(url)), redact(following)
        )

    def describe(self) -> str:
        """The nodes without passwords, for a log line."""
        return ", ".join(redact(url) for url in self.urls)

    async def connect(self, opener: Callable[[str, ssl.SSLContext | None], Awaitable[T]]) -> T:
        """Open a connection with ``opener(url, tls_context)`` on the first node that answers.

        ``opener`` must bound its own time and close what it half-opened when it
        fails. A node that fails is logged (one line) and the next is tried.

        Raises:
            Exception: the last node's error, when none answers.
        """
        failure: Exception | None = None
        for url in self.ordered():
            try:
                connection = await opener(url, self.ssl_context(url))
            except Exception as exc:  # noqa: BLE001 - any failure of a node: try the next one
                failure = exc
                if len(self.urls) > 1:
                    log.warning("broker node %s: %s: %s", redact(url), type(exc).__name__, exc)
                continue
            self._next = self.urls.index(url)
            return connection
        assert failure is not None  # noqa: S101 - the loop ran at least once
        raise failure

    async def connect_aio_pika(self, *, name: str, timeout: float = 5.0) -> AbstractConnection:
        """An aio-pika connection (``connection_name`` = ``name``) to the first node that answers.

        Raises:
            Exception: the last node's error (aio-pika's connection errors,
                :class:`TimeoutError`, :class:`OSError`), when none answers.
        """

        async def open_one(url: str, tls: ssl.SSLContext | None) -> AbstractConnection:
            # Not aio_pika.connect(): when the handshake fails it drops the half-made
            # connection unclosed, and its __del__ cannot close it off the event loop's
            # thread (garbage collection may run in another thread).
            connection = aio_pika.Connection(
                make_url(url), ssl_context=tls, client_properties={"connection_name": name}
            )
            try:
                await connection.connect(timeout=timeout)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), timeout)
                raise
            return connection

        return await self.connect(open_one)


def _same_node(a: URL, b: URL) -> bool:
    default = {"amqp": 5672, "amqps": 5671}
    return (a.host, a.port or default.get(a.scheme)) == (b.host, b.port or default.get(b.scheme))

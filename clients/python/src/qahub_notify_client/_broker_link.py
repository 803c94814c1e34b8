"""A command sender's link to the broker: the nodes, TLS and fail-over (DESIGN §12).

The broker's address is read exactly as the services read ``RABBITMQ_URL``,
through :mod:`qahub_contracts.amqp_endpoints` (which needs aio-pika: the
``commands`` extra brings it; nothing of the servers' stack is imported):

- ``rabbitmq_url`` lists one node or several, comma-separated, each a full
  ``amqp://`` or ``amqps://`` URL;
- a connection opens on the first node that answers, the one that answered last
  tried first (a refused node costs nothing, an unreachable one ``timeout``);
- when the connection is lost, the next :meth:`BrokerLink.channel` opens a new
  one that tries the lost node last;
- ``amqps://`` nodes are reached with one TLS context made from the CA file
  (else the system's CAs) and the client certificate and key, the broker's
  certificate and host name verified: ``RABBITMQ_CA_FILE``, ``RABBITMQ_CERT_FILE``
  and ``RABBITMQ_KEY_FILE`` of the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from aio_pika.abc import AbstractChannel, AbstractConnection

from qahub_contracts.amqp_endpoints import BrokerEndpoints, TlsFiles

__all__ = ["BrokerLink", "StrPath", "endpoints", "tls_files"]

StrPath = str | os.PathLike[str]

CONNECTION_NAME = "qahub-command-sender"


def tls_files(
    ca_file: StrPath | None, cert_file: StrPath | None, key_file: StrPath | None
) -> TlsFiles:
    """The TLS files as the services hold them."""
    return TlsFiles(*(Path(f) if f is not None else None for f in (ca_file, cert_file, key_file)))


def endpoints(rabbitmq_url: str, tls: TlsFiles) -> BrokerEndpoints:
    """The nodes of ``rabbitmq_url``, TLS checked now rather than at the first send.

    Raises:
        ValueError: no node, a node not ``amqp://`` / ``amqps://`` with a host, a key
            without its certificate, or TLS files while no node is ``amqps://``.
        OSError: a TLS file cannot be read, or is not PEM (:class:`ssl.SSLError`).
    """
    nodes = BrokerEndpoints.parse(rabbitmq_url, tls)
    if tls.key_file is not None and tls.cert_file is None:
        raise ValueError("rabbitmq_key_file needs rabbitmq_cert_file (the client certificate)")
    secure = [url for url in nodes.urls if url.startswith("amqps://")]
    if not secure and (tls.ca_file or tls.cert_file):
        raise ValueError("TLS files given, but no node of rabbitmq_url is amqps://")
    if secure:
        nodes.ssl_context(secure[0])
    return nodes


class BrokerLink:
    """One channel (publisher confirms, returns raised) on a node that answers.

    Not safe for concurrent use: its sender calls it under a lock.
    """

    def __init__(self, nodes: BrokerEndpoints, *, timeout: float) -> None:
        self._nodes = nodes
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def channel(self) -> AbstractChannel:
        """The open channel; a new one on a new connection once it or its connection closed.

        Raises:
            Exception: the last node's error (aio-pika's connection errors,
                :class:`TimeoutError`, :class:`OSError`) when no node answers.
        """
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        await self.drop()
        connection = await self._nodes.connect_aio_pika(name=CONNECTION_NAME, timeout=self._timeout)
        try:
            channel = await asyncio.wait_for(
                connection.channel(on_return_raises=True), self._timeout
            )
        except BaseException:
            await self._close(connection)
            raise
        self._connection, self._channel = connection, channel
        return channel

    async def drop(self) -> None:
        """Give up the connection (its node went away): the next one tries that node last."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            self._nodes.move_past(self._nodes.last_answered)
            await self._close(connection)

    async def close(self) -> None:
        """Close the connection; what the broker confirmed is safe."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            await self._close(connection)

    async def _close(self, connection: AbstractConnection) -> None:
        # A node that went silent never answers the close: give up after timeout.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), self._timeout)

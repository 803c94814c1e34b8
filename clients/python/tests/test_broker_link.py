"""A command sender finds the broker as the services do: a node list, fail-over, TLS.

Against the real RabbitMQ on loopback; a closed loopback port plays a dead node,
a proxy the test cuts plays a node that goes away, and a TLS-terminating proxy
with a throwaway CA plays an ``amqps://`` listener.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from tests.support.pki import Pki, make_pki
from tests.support.proxy import TcpProxy, tcp_proxy

from qahub_notify_client import AsyncCommandSender, CommandSender, Unavailable

from .conftest import received


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _at(url: str, port: int, *, scheme: str = "amqp", host: str = "127.0.0.1") -> str:
    """``url`` (credentials and vhost kept) pointed at ``host:port``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=scheme, netloc=f"guest:guest@{host}:{port}"))


async def _bodies(queue: aio_pika.abc.AbstractQueue, count: int) -> list[object]:
    return [json.loads((await received(queue)).body)["data"] for _ in range(count)]


class TestNodeList:
    """``rabbitmq_url`` may list nodes, comma-separated; the first that answers is used."""

    async def test_a_closed_first_node_is_skipped(self, rabbitmq_url, closed_port, commands):
        nodes = f"{_at(rabbitmq_url, closed_port)},{rabbitmq_url}"
        async with AsyncCommandSender(nodes, "t", timeout=5) as sender:
            await sender.send("42", "t", "confirmed")
        assert await _bodies(commands, 1) == ["confirmed"]

    async def test_the_blocking_twin_takes_the_same_list(self, rabbitmq_url, closed_port, commands):
        def send() -> None:
            nodes = f" {_at(rabbitmq_url, closed_port)} , {rabbitmq_url} "
            with CommandSender(nodes, "t", timeout=5) as sender:
                sender.send("42", "t", "blocking")

        await asyncio.to_thread(send)
        assert await _bodies(commands, 1) == ["blocking"]

    async def test_no_node_answering_is_unavailable(self, rabbitmq_url, closed_port):
        nodes = f"{_at(rabbitmq_url, closed_port)},{_at(rabbitmq_url, closed_port)}"
        async with AsyncCommandSender(nodes, "t", timeout=2) as sender:
            with pytest.raises(Unavailable):
                await sender.send("42", "t", "x")

    @pytest.mark.parametrize("value", ["", " , ", "http://h/", "amqp:///vhost"])
    def test_a_list_naming_no_usable_node_is_refused_at_once(self, value):
        with pytest.raises(ValueError, match=r"node|amqp|host"):
            AsyncCommandSender(value, "t")


class TestFailOver:
    """When a sender's node goes away, the same ``send`` goes to the next node."""

    async def test_a_send_after_the_node_is_lost_goes_to_the_next(self, rabbitmq_url, commands):
        parts = urlsplit(rabbitmq_url)
        target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        async with tcp_proxy(*target) as first, tcp_proxy(*target) as second:
            nodes = f"{_at(rabbitmq_url, first.port)},{_at(rabbitmq_url, second.port)}"
            async with AsyncCommandSender(nodes, "t", timeout=5) as sender:
                await sender.send("42", "t", "on the first")
                await first.cut()  # drops the connection and refuses new ones
                await sender.send("42", "t", "on the second")
                first.restore()
                await sender.send("42", "t", "still on the second")
            assert (first.accepted, second.accepted) == (1, 1)
        assert await _bodies(commands, 3) == [
            "on the first",
            "on the second",
            "still on the second",
        ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_node(pki: Pki, rabbitmq_url: str) -> AsyncIterator[TcpProxy]:
    """A TLS listener for the broker that demands a client certificate of the test CA."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    server.load_cert_chain(pki.server_cert, pki.server_key)
    server.verify_mode = ssl.CERT_REQUIRED
    parts = urlsplit(rabbitmq_url)
    async with tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5672, server) as proxy:
        yield proxy


class TestTls:
    """``amqps://`` with the services' CA, client certificate and key files."""

    async def test_a_verified_tls_node_confirms(self, pki, tls_node, rabbitmq_url, commands):
        url = _at(rabbitmq_url, tls_node.port, scheme="amqps", host="localhost")
        async with AsyncCommandSender(
            url,
            "t",
            timeout=5,
            rabbitmq_ca_file=pki.ca,
            rabbitmq_cert_file=str(pki.client_cert),
            rabbitmq_key_file=pki.client_key,
        ) as sender:
            await sender.send("42", "t", "over tls")
        assert await _bodies(commands, 1) == ["over tls"]

    async def test_a_server_of_an_unknown_ca_is_refused(self, pki, tls_node, rabbitmq_url):
        url = _at(rabbitmq_url, tls_node.port, scheme="amqps", host="localhost")
        async with AsyncCommandSender(
            url,
            "t",
            timeout=5,
            rabbitmq_cert_file=pki.client_cert,
            rabbitmq_key_file=pki.client_key,
        ) as sender:
            with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
                await sender.send("42", "t", "x")

    def test_a_key_without_its_certificate_is_refused(self, pki):
        with pytest.raises(ValueError, match="rabbitmq_cert_file"):
            AsyncCommandSender("amqps://h/", "t", rabbitmq_key_file=pki.client_key)

    def test_tls_files_without_an_amqps_node_are_refused(self, pki):
        with pytest.raises(ValueError, match="amqps://"):
            AsyncCommandSender("amqp://h/", "t", rabbitmq_ca_file=pki.ca)

    def test_a_file_that_is_not_pem_is_refused_at_once(self, tmp_path: Path):
        junk = tmp_path / "ca.pem"
        junk.write_text("not a certificate\n")
        with pytest.raises(ssl.SSLError):
            CommandSender("amqps://h/", "t", rabbitmq_ca_file=junk)

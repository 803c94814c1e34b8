"""DESIGN §5 "Connection lifecycle": each defect found from outside, over a raw socket.

Every test speaks HTTP itself on a bare socket to a real relay (real broker), so
it sends exactly the bytes a misbehaving or unusual client sends: pipelined
requests, a client that never reads, HTTP/1.0, an oversized head, a malformed
request line. Each is named after the bug it reproduces.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import pytest

STREAM = "/api/v1/notifications/stream"


class RawClient:
    """One TCP connection that sends the given bytes and records what comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = b""

    @classmethod
    async def connect(cls, base_url: str, *, rcvbuf: int | None = None) -> RawClient:
        where = urlsplit(base_url)
        sock = socket.socket()
        if rcvbuf is not None:  # a small window: the relay's writes back up sooner
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)  # noqa: FBT003 - the socket API
        await asyncio.get_running_loop().sock_connect(sock, (where.hostname, where.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Everything received up to and including ``marker`` (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} within {timeout}s; got {self.received[:300]!r}"
            chunk = await asyncio.wait_for(self.reader.read(65536), left)
            assert chunk, f"connection closed before {marker!r}; got {self.received[:300]!r}"
            self.received += chunk
        return self.received

    async def closed_by_peer(self, timeout: float = 10.0) -> bool:
        """Read until the relay closes the connection (EOF or reset) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 20), left)
            except TimeoutError:
                return False
            except ConnectionError:
                return True
            if not chunk:
                return True
            self.received += chunk
        return False

    def head(self) -> tuple[str, list[tuple[str, str]]]:
        """The status line and header fields of the response received so far."""
        text = self.received.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status, *lines = text.split("\r\n")
        fields = [line.split(":", 1) for line in lines]
        return status, [(name.strip().lower(), value.strip()) for name, value in fields]

    def body(self) -> bytes:
        return self.received.split(b"\r\n\r\n", 1)[1]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def stream_request(
    token: str, *, query: str = "", version: str = "1.1", headers: str = ""
) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"GET {STREAM}{query} HTTP/{version}\r\nHost: relay\r\n{auth}{headers}\r\n").encode()


async def open_streams(base_url: str) -> int:
    """The relay's own count of open streams (``/readyz``)."""
    async with httpx.AsyncClient(timeout=5) as http:
        return int((await http.get(f"{base_url}/readyz")).json()["connections"])


async def until_streams(base_url: str, count: int, timeout: float = 5.0) -> None:
    """Wait (polling the relay's count: there is no event to await) until it is ``count``."""
    deadline = time.monotonic() + timeout
    while (now := await open_streams(base_url)) != count:
        assert time.monotonic() < deadline, f"{now} open streams after {timeout}s, not {count}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    """Raw connections to a relay, closed at the end of the test."""
    clients: list[RawClient] = []

    async def connect_(base_url: str, **options: int) -> RawClient:
        client = await RawClient.connect(base_url, **options)
        clients.append(client)
        return client

    yield connect_
    for client in clients:
        await client.close()


class TestSlotReleasedWithItsSocket:
    """A stream's slot is held exactly as long as its socket."""

    async def test_a_client_that_never_reads_is_dropped_as_slow_and_its_socket_closed(
        self, start_relay, connect, publisher, events, token
    ):
        """Bug: counted as dropped-slow, but the socket stayed open (MBs queued) with its slot."""
        relay = await start_relay(client_queue_size=4)
        client = await connect(relay.base_url, rcvbuf=4096)
        await client.send(stream_request(token("alice")))
        await client.read_until(b"event: connected")
        await until_streams(relay.base_url, 1)
        big = "x" * 15_000  # just under the 16 KiB a notification's data may hold
        for sent in range(400):  # bounded: a few hundred KB back up a non-reading socket
            await publisher.publish(events.created("alice", big))
            if sent % 10 == 9 and await open_streams(relay.base_url) == 0:
                break
        await until_streams(relay.base_url, 0)
        assert await client.closed_by_peer(), "the relay kept the slow client's socket open"

"""DESIGN §5 "Connection lifecycle": each defect found from outside, over a raw socket.

Every test speaks HTTP itself on a bare socket to a real relay (real broker), so
it sends exactly the bytes a misbehaving or unusual client sends: pipelined
requests, a client that never reads, HTTP/1.0, an oversized head, a malformed
request line. Each is named after the bug it reproduces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
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

    async def test_two_pipelined_streams_then_close_release_the_slot_at_once(
        self, start_relay, connect, open_stream, token, caplog
    ):
        """Bug: the first of two pipelined streams was never told its client left: it held
        its slot until the token expired, and heartbeats to the closed socket logged tracebacks."""
        relay = await start_relay(max_streams_per_user=1, sse_heartbeat_seconds=0.2)
        client = await connect(relay.base_url)
        await client.send(stream_request(token("alice")) * 2)
        await client.read_until(b"event: connected")
        await until_streams(relay.base_url, 1)
        await client.close()
        await until_streams(relay.base_url, 0, timeout=2)
        # The slot is free: the user's one allowed stream opens, and while it gets two
        # heartbeats the shared timer ticks often; nothing may go wrong with the old socket.
        stream = await open_stream(relay.base_url, token("alice"))
        beats = 0
        while beats < 2:
            beats += (await stream.next(timeout=3, skip_comments=False)).comments == ["heartbeat"]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


class TestHeadBeforeAnyWait:
    async def test_an_id_ahead_of_the_log_gets_status_headers_and_retry_before_the_wait(
        self, start_relay, connect, token
    ):
        """Bug: a well-formed Last-Event-ID ahead of the log got not even the status line
        for CATCH_UP_WAIT_SECONDS."""
        relay = await start_relay(catch_up_wait_seconds=5, sse_retry_ms=1500, sse_retry_jitter=0)
        client = await connect(relay.base_url)
        started = time.monotonic()
        ahead = "Last-Event-ID: 999999-0123456789ab\r\n"
        await client.send(stream_request(token("alice"), headers=ahead))
        await client.read_until(b"retry: 1500\n\n", timeout=2.5)
        assert time.monotonic() - started < 2.5
        assert client.head()[0] == "HTTP/1.1 200 OK"
        assert b"event: connected" not in client.received  # still waiting for the log
        await client.read_until(b"event: connected", timeout=10)
        assert b'"recovered":false' in client.received
        assert time.monotonic() - started >= 4


class TestRequestsFromOutside:
    """Unusual but legal requests get a correct answer; broken ones a bounded JSON refusal."""

    async def test_basic_auth_at_a_proxy_does_not_hide_the_query_token_or_the_cookie(
        self, start_relay, connect, token
    ):
        """Bug: ``Authorization: Basic`` (meant for a proxy) made ?token= and the cookie 401."""
        relay = await start_relay()
        basic = "Authorization: Basic dXNlcjpwYXNz\r\n"
        for query, cookie in [
            (f"?token={token('alice')}", ""),
            ("", f"Cookie: access_token={token('alice')}\r\n"),
        ]:
            client = await connect(relay.base_url)
            await client.send(stream_request("", query=query, headers=basic + cookie))
            await client.read_until(b'"userId":"alice"')
            assert client.head()[0] == "HTTP/1.1 200 OK"

    async def test_http_1_0_gets_a_close_delimited_body_and_one_connection_header(
        self, start_relay, connect, publisher, events, token
    ):
        """Bug: an HTTP/1.0 request got a chunked body and two contradictory Connection headers."""
        relay = await start_relay(sse_retry_ms=1234, sse_retry_jitter=0)
        client = await connect(relay.base_url)
        await client.send(stream_request(token("alice", ttl_seconds=3), version="1.0"))
        await client.read_until(b"event: connected")
        status, fields = client.head()
        assert status == "HTTP/1.1 200 OK"
        assert [value for name, value in fields if name == "connection"] == ["close"]
        assert not {"transfer-encoding", "content-length"} & {name for name, _ in fields}
        assert client.body().startswith(b"retry: 1234\nevent: connected\n")
        await publisher.publish(events.created("alice"))  # a live event, written directly
        await client.read_until(b"event: notification")
        assert await client.closed_by_peer(timeout=10)  # the token expired: the body ends
        fields_used = {line.partition(b":")[0] for line in client.body().split(b"\n")}
        assert fields_used <= {b"retry", b"event", b"data", b"id", b""}, fields_used

    async def test_an_oversized_request_head_is_refused_and_never_opens_a_stream(
        self, start_relay, connect, token
    ):
        """Bug: an 8 MiB request header opened a stream."""
        relay = await start_relay()
        for size in (40 * 1024, 8 << 20):  # complete in one read; arriving over many
            client = await connect(relay.base_url)
            padding = f"X-Padding: {'a' * size}\r\n"
            sending = asyncio.ensure_future(
                client.send(stream_request(token("alice"), headers=padding))
            )
            await client.read_until(b"}}")
            status, fields = client.head()
            assert status == "HTTP/1.1 431 Request Header Fields Too Large"
            assert ("content-type", "application/json") in fields
            assert json.loads(client.body())["error"]["code"] == "headers_too_large"
            assert await client.closed_by_peer()
            with contextlib.suppress(ConnectionError):
                await sending
        assert await open_streams(relay.base_url) == 0

    async def test_a_malformed_request_gets_the_json_400(self, start_relay, connect):
        """Bug: uvicorn answered a request it could not parse with its own text/plain 400."""
        relay = await start_relay()
        client = await connect(relay.base_url)
        await client.send(f"GET {STREAM} HTTP/1.1\r\nHost: relay\r\nno colon here\r\n\r\n".encode())
        await client.read_until(b"}}")
        status, fields = client.head()
        assert status == "HTTP/1.1 400 Bad Request"
        assert ("content-type", "application/json") in fields
        error = json.loads(client.body())["error"]
        assert error["code"] == "bad_request"
        assert set(error) == {"code", "message"}
        assert await client.closed_by_peer()

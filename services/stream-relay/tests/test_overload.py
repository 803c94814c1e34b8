"""A relay whose event loop runs late refuses new streams 503 with Retry-After, and only those.

The relay runs in this test's event loop, so blocking the loop here (a real
``time.sleep`` on it) is exactly an overloaded relay: nothing of it runs
meanwhile, and what arrived waits.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import orjson

from stream_relay.overload import MAX_RETRY_AFTER

STREAM = "/api/v1/notifications/stream"


async def request_then_block(
    base_url: str, token: str, seconds: float
) -> tuple[int, dict[str, str], bytes]:
    """Send a stream request, then block the loop before the relay can read it; the
    answer's status, headers and body (read once the loop runs again)."""
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {STREAM} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    time.sleep(seconds)  # noqa: ASYNC251 - the point: the relay's loop is stuck this long
    try:
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            status = int(lines[0].split()[1])
            headers = {
                name.lower(): value
                for name, _, value in (line.partition(": ") for line in lines[1:] if line)
            }
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.readuntil(b"\n\n")  # the first frame of a stream
    finally:
        writer.close()
    return status, headers, body


class TestShedding:
    async def test_a_late_loop_refuses_new_streams_with_retry_after_then_opens_them(
        self, start_relay, token: Callable[..., str], http: httpx.AsyncClient
    ):
        relay = await start_relay(shed_lag_seconds=0.3)
        status, headers, body = await request_then_block(relay.base_url, token("alice"), 0.6)
        assert status == 503
        assert 1 <= int(headers["retry-after"]) <= MAX_RETRY_AFTER
        assert orjson.loads(body)["error"]["code"] == "overloaded"
        # The probes are never refused for it, and new streams open once it runs on time.
        assert (await http.get(f"{relay.base_url}/readyz")).status_code == 200
        deadline = time.monotonic() + 5
        while True:
            status, _, body = await request_then_block(relay.base_url, token("alice"), 0)
            if status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert status == 200
        assert b"event: connected" in body or b"retry:" in body
        metrics = (await http.get(f"{relay.base_url}/metrics")).text
        shed = re.search(r"^stream_relay_streams_shed_total (\S+)$", metrics, re.MULTILINE)
        assert shed is not None
        assert float(shed[1]) >= 1

    async def test_zero_never_sheds(self, start_relay, token: Callable[..., str]):
        relay = await start_relay(shed_lag_seconds=0)
        status, _, _ = await request_then_block(relay.base_url, token("alice"), 0.6)
        assert status == 200

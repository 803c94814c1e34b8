"""A subscriber that stops reading: the relay drops it, memory stays bounded, others go on."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tests.reliability.conftest import Cluster, user_token
from tests.support.servers import ChildProcess, eventually

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _rss_kib(process: ChildProcess) -> int:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


class TestStalledSubscriber:
    """A client that stops reading is dropped as slow; the others get everything."""

    async def test_stalled_client_is_dropped_and_others_are_unaffected(
        self, cluster: Cluster, report
    ):
        relay = await cluster.start_relay(CLIENT_QUEUE_SIZE="50")
        cluster.relays = [relay]
        healthy = cluster.subscribers(["u1"], 2)
        for s in healthy:
            s.start()
        await eventually(lambda: _connected(healthy), timeout=30, what="healthy subscribers")
        url = urlsplit(cluster.relay_urls[0])
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(
            f"GET /api/v1/notifications/stream HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {user_token('u1')}\r\n\r\n".encode()
        )
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        # ... and never read again.
        rss_before = _rss_kib(relay)
        big = "x" * 15_000
        async with httpx.AsyncClient(base_url=cluster.api_url, timeout=10) as http:
            for i in range(400):
                assert await cluster.write(http, "u1", f"{i}-{big}")

        async def dropped() -> bool:
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"{cluster.relay_urls[0]}/metrics")).text
            return any(
                line.startswith("stream_relay_slow_clients_dropped_total")
                and not line.endswith(" 0.0")
                for line in text.splitlines()
            )

        await eventually(dropped, timeout=30, what="the stalled client to be dropped")
        recovery = await cluster.settle(healthy, timeout=60)
        growth_mib = (_rss_kib(relay) - rss_before) / 1024
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        for s in healthy:
            await s.stop()
        counts = cluster.check(healthy)
        report(
            "subscriber stops reading (400 x 15 KB)",
            f"2 healthy subs, RSS +{growth_mib:.0f} MiB",
            counts,
            f"{recovery:.1f}s",
        )
        assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0), counts
        # 400 x 15 KB = 6 MB went through; a bounded queue keeps growth well below that x 3 copies.
        assert growth_mib < 60, growth_mib


async def _connected(subscribers) -> bool:
    return all(s.connects >= 1 for s in subscribers)

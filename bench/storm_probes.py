"""What bench/storm.py watches while the storm runs: the probes, the API's and the relay's
request counters, and how long the relay waited for a CPU."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
from common import percentile

PROBE_TIMEOUT_S = 10
_SKIP_ROUTES = ("/metrics", "/readyz", "/healthz")


def api_gets(metrics: str) -> int:
    """GET requests the API counted, health and metrics excluded."""
    total = 0
    for line in metrics.splitlines():
        if not line.startswith("http_requests_total{") or 'method="GET"' not in line:
            continue
        if not any(f'route="{r}"' in line for r in _SKIP_ROUTES):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def relay_requests(metrics: str) -> int | None:
    """The relay's own count of snapshot requests to the API, if it exports one."""
    found = None
    for line in metrics.splitlines():
        if line.startswith("stream_relay_snapshot_requests_total"):
            found = (found or 0) + int(float(line.rsplit(" ", 1)[1]))
    return found


def run_queue_s(pid: int) -> float:
    """Seconds the process's threads were runnable but waiting for a CPU (schedstat):
    on a shared machine, how much of the storm the relay spent queued behind others."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


class Probe:
    """Polls one relay URL in turn during the storm and keeps every latency."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.latencies: list[float] = []
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as http:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    await http.get(self.url, headers=self.headers)
                except httpx.HTTPError:
                    self.failures += 1
                self.latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.1)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "polls": len(ordered),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
            "max_ms": round(max(ordered, default=0.0) * 1000, 1),
            "no_answer": self.failures,
        }

# ruff: noqa: S101, RUF002, RUF003 - asserts narrow types for the reader; × reads as "times"
"""The SSE worker processes (``sse_worker.py``) holding a scenario's streams.

Each worker holds up to ``STREAMS_PER_WORKER`` streams from its own loopback source
address and reports, per stream, which of its user's seqs arrived; this side
starts them, hands each its spec and merges their results.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

from common import SECRET, merge_hists, python
from loadgen import WORKER, Target

STREAMS_PER_WORKER = 12_500  # one source address each: under the ~28k ephemeral ports


async def start_worker(spec: dict[str, Any]) -> asyncio.subprocess.Process:
    """One ``sse_worker.py`` process, handed its ``spec`` (a JSON line on its stdin)."""
    proc = await asyncio.create_subprocess_exec(
        python(),
        str(WORKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**26,  # a result is one JSON line, histogram included: it can be long
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec).encode() + b"\n")
    await proc.stdin.drain()
    return proc


@dataclass
class Workers:
    """Worker processes holding ``len(users) × tabs`` streams; each user's tabs expect its seqs."""

    target: Target
    users: list[str]
    tabs: int
    expect: dict[str, int]
    deadline_s: float
    processes: int = 0
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    ready: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> dict[str, Any]:
        streams = len(self.users) * self.tabs
        count = self.processes or max(1, math.ceil(streams / STREAMS_PER_WORKER))
        for i in range(count):
            users = self.users[i::count]
            spec = {
                "port": self.target.sse_port,
                "path": self.target.sse_path,
                "users": users,
                "tabs": self.tabs,
                "expect": {u: self.expect.get(u, 0) for u in users},
                "source": f"127.0.0.{2 + i}",
                "deadline_s": self.deadline_s,
                "secret": SECRET,
                "ready_event": self.target.ready_event,
            }
            self.procs.append(await start_worker(spec))
        connect_deadline = max(self.deadline_s, 60 + streams / 100)
        self.ready = [await self._line(p, connect_deadline) for p in self.procs]
        return {
            "ready": sum(r["ready"] for r in self.ready),
            "failed": sum(r["failed"] for r in self.ready),
            "connect_s": max(r["connect_s"] for r in self.ready),
        }

    @staticmethod
    async def _line(proc: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("an SSE worker died; see its stderr above")
        return dict(json.loads(line))

    async def result(self, *, stop: bool = False) -> dict[str, Any]:
        """Each worker's result (after ``stop`` or once complete / at its deadline), merged."""
        if stop:
            for p in self.procs:
                assert p.stdin is not None
                p.stdin.write(b"stop\n")
        results = [await self._line(p, self.deadline_s + 30) for p in self.procs]
        await self.close()
        merged: dict[str, Any] = {"processes": len(results)}
        for key in ("streams", "failed_connect", "complete", "expected", "delivered", "unique"):
            merged[key] = sum(r[key] for r in results)
        for key in ("lost", "duplicated", "closed_by_server", "heartbeats"):
            merged[key] = sum(r[key] for r in results)
        merged["last_arrival"] = max(r["last_arrival"] for r in results)
        merged["max_latency_ms"] = round(max(r["max_latency"] for r in results) * 1000, 2)
        merged["client_cpu_s"] = round(sum(r["cpu_s"] for r in results), 3)
        merged["client_rss_mb"] = round(sum(r["maxrss"] for r in results) / 2**20, 1)
        merged["errors"] = [e for r in results for e in r["errors"]][:5]
        merged["incomplete"] = [i for r in results for i in r["incomplete"]][:20]
        merged["hist"] = merge_hists([r["hist"] for r in results])
        return merged

    async def close(self) -> None:
        for p in self.procs:
            if p.stdin is not None and not p.stdin.is_closing():
                p.stdin.close()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except TimeoutError:
                p.kill()  # our own worker, by its handle
                await p.wait()

"""What every scenario shares: our services as child processes, process figures, results.

Everything here starts only its own processes and ends only those, by PID; every
wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Self

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-that-is-long-enough-for-hs256"
MGMT = "http://127.0.0.1:15672/api"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NOFILE = 200_000
QAHUB = ROOT / ".venv" / "bin" / "qahub-notify"


# ── figures ────────────────────────────────────────────────────────────────


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms_percentiles(ordered: list[float]) -> dict[str, float]:
    """p50 and p99 in ms, and the count, of sorted durations in seconds."""
    return {
        "p50": round(percentile(ordered, 0.5) * 1000, 2),
        "p99": round(percentile(ordered, 0.99) * 1000, 2),
        "n": len(ordered),
    }


def hist_summary(hist: dict[int, int], *, unit_us: int = 10) -> dict[str, Any]:
    """p50/p95/p99/max in ms from a histogram of ``unit_us``-microsecond buckets."""
    total = sum(hist.values())
    if total == 0:
        return {"n": 0}
    marks = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "p999": 0.999}
    out: dict[str, Any] = {"n": total}
    seen = 0
    pending = sorted(marks.items(), key=lambda kv: kv[1])
    for bucket in sorted(hist):
        seen += hist[bucket]
        while pending and seen >= pending[0][1] * total:
            out[f"{pending.pop(0)[0]}_ms"] = round(bucket * unit_us / 1000, 2)
    out["max_ms"] = round(max(hist) * unit_us / 1000, 2)
    return out


def merge_hists(hists: list[dict[Any, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for h in hists:
        for k, v in h.items():
            merged[int(k)] = merged.get(int(k), 0) + v
    return merged


def hist_of(values: list[float], unit_us: int = 10) -> dict[int, int]:
    hist: dict[int, int] = {}
    for v in values:
        b = int(v * 1e6 / unit_us)
        hist[b] = hist.get(b, 0) + 1
    return hist


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    """Resident set size in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_result(scenario: str, summary: dict[str, Any], details: dict[str, Any]) -> Path:
    """Write the details to bench/results/ and print the one-line summary."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{scenario}-{stamp}.json"
    summary = {"scenario": scenario, **summary, "details": str(path.relative_to(ROOT))}
    path.write_text(json.dumps({"summary": summary, **details}, indent=1, default=str))
    print(json.dumps(summary), flush=True)
    return path


def load_avg() -> float:
    return os.getloadavg()[0]


# ── processes ──────────────────────────────────────────────────────────────


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(limit: int = NOFILE) -> None:
    """Raise this process's open-files limit (root may raise the hard limit too)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))


class Child:
    """One process we started; ended by its PID only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=raise_nofile,  # noqa: PLW1509 - only sets a limit
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


async def wait_ready(url: str, child: Child, timeout: float = 60) -> float:
    """Seconds until ``url`` answers 200 (raises after ``timeout`` or if the child dies)."""
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=2) as http:
        while time.perf_counter() - started < timeout:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited; see {child.log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return time.perf_counter() - started
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{child.name} not ready after {timeout}s; see {child.log}")


class Stack:
    """Our system for one scenario: own vhost, own database, API and relay children."""

    def __init__(
        self,
        scenario: str,
        *,
        database: str = "sqlite",
        relay_env: dict[str, str] | None = None,
        relay: bool = True,
        snapshot_api: bool = True,
        qahub: Path = QAHUB,
    ) -> None:
        self.scenario = scenario
        self.qahub = qahub  # the checkout whose services run (bench/storm.py --before)
        self.database = database
        self.relay_env = relay_env or {}
        self.with_relay = relay
        self.snapshot_api = snapshot_api
        self.tag = f"{scenario}-{uuid.uuid4().hex[:6]}"
        self.vhost = f"bench-{self.tag}"
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"qahub-bench-{scenario}-"))
        self.logs = RESULTS / "logs"
        self.dbname = f"bench_{uuid.uuid4().hex[:8]}"
        self.database_url = ""
        self.api: Child | None = None
        self.relay: Child | None = None
        self.api_port = free_port()
        self.relay_port = free_port()
        self.relay_ready_s: float | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        api_url = self.api_base if self.snapshot_api else f"http://127.0.0.1:{free_port()}"
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "RABBITMQ_URL": self.amqp_url,
            "JWT_SECRET": SECRET,
            "NOTIFICATIONS_API_URL": api_url,
            **(extra or {}),
        }

    async def __aenter__(self) -> Self:
        self.logs.mkdir(parents=True, exist_ok=True)
        await create_vhost(self.vhost)
        if self.database == "sqlite":
            self.database_url = f"sqlite+aiosqlite:///{self.tmp / 'bench.db'}"
        else:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'CREATE DATABASE "{self.dbname}"')
            await admin.close()
            self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.dbname}"
        try:
            self.api = self.start_api()
            await wait_ready(f"{self.api_base}/readyz", self.api)
            if self.with_relay:
                await self.start_relay()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def start_api(self) -> Child:
        argv = [str(self.qahub), "api", "--port", str(self.api_port)]
        return Child("api", argv, self.env(), self.logs / f"{self.tag}-api.log")

    async def start_relay(self) -> Child:
        """Start (or restart) the relay; sets ``relay_ready_s`` (start to caught up)."""
        if self.relay is not None:
            self.relay.stop()
        argv = [str(self.qahub), "relay", "--port", str(self.relay_port), "--log-level", "warning"]
        env = self.env({"SSE_HEARTBEAT_SECONDS": "30", **self.relay_env})
        self.relay = Child("relay", argv, env, self.logs / f"{self.tag}-relay.log")
        self.relay_ready_s = await wait_ready(
            f"http://127.0.0.1:{self.relay_port}/readyz", self.relay, timeout=600
        )
        return self.relay

    async def __aexit__(self, *exc: object) -> None:
        for child in (self.relay, self.api):
            if child is not None:
                child.stop()
        with contextlib.suppress(Exception):
            await delete_vhost(self.vhost)
        if self.database != "sqlite":
            with contextlib.suppress(Exception):
                admin = await asyncpg.connect(PG_ADMIN)
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
                await admin.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def create_vhost(vhost: str) -> None:
    async with httpx.AsyncClient(auth=("guest", "guest"), timeout=10) as mgmt:
        (await mgmt.put(f"{MGMT}/vhosts/{vhost}")).raise_for_status()
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        (await mgmt.put(f"{MGMT}/permissions/{vhost}/guest", json=perms)).raise_for_status()


async def delete_vhost(vhost: str) -> None:
    async with httpx.AsyncClient(auth=("guest", "guest"), timeout=30) as mgmt:
        await mgmt.delete(f"{MGMT}/vhosts/{vhost}")


def python() -> str:
    return sys.executable

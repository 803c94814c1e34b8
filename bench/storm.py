# ruff: noqa: S101 - asserts narrow types for the reader
"""Scenario 6, storm: N streams of M users open within one second against one relay (issue 16).

What a relay sees when another one dies: all of that relay's clients arrive
within one ``retry:``. Starts the API and one relay (its own vhost, its own
SQLite database), gives every user ``--seed`` unread notifications, then opens
``--streams`` streams (``--streams / --users`` tabs per user) spread evenly over
``--spread`` seconds from several client processes, one tab of every user per
round (a user's tabs arrive spread over the window, as after jittered
``retry:``s). Reports:

- time from each stream's connect to its response head and to its snapshot
  (the ``recent`` frame, after ``stats``): p50/p99/max; streams without one
  (and without ``stats``) by ``--deadline``; answers other than 200;
- API GETs per stream (the API's own request counter, health and metrics
  excluded) and, when the relay exports it, its snapshot fetches;
- relay and API CPU seconds over the storm;
- ``/readyz``, ``/healthz`` and the connections endpoint, each polled in turn
  during the storm: max and p99 latency, and polls that got no answer in 10 s.

``--before PATH`` runs the services of another checkout (its ``.venv``) as well,
first, in the same invocation: the before/after pair of docs/performance.md.

    uv run python bench/storm.py --streams 2000 --users 50
    uv run python bench/storm.py --streams 10000 --users 1000 --before ../storm-before
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop
from common import (
    QAHUB,
    RESULTS,
    SECRET,
    Stack,
    load_avg,
    percentile,
    proc_cpu,
    write_result,
)
from loadgen import progress
from storm_probes import Probe, api_gets, relay_requests, run_queue_s
from wire import PostPool, notification_body
from workers import start_worker

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

STREAMS_PER_WORKER = 5000  # each worker its own source address: ports to spare; few processes


async def seed(stack: Stack, users: list[str], per_user: int) -> None:
    """``per_user`` unread notifications for every user, so ``recent`` has content."""
    token = mint_token(SECRET, "bench-publisher", scope=PUBLISH_SCOPE, ttl_seconds=7200)
    async with PostPool(stack.api_port, 32, {"Authorization": f"Bearer {token}"}) as pool:
        gate = asyncio.Semaphore(32)

        async def one(user: str, seq: int) -> None:
            async with gate:
                await pool.post("/api/v1/notifications", notification_body(user, seq))

        plan = [(u, i * len(users) + k) for i in range(per_user) for k, u in enumerate(users)]
        await asyncio.gather(*(one(u, s) for u, s in plan))


async def open_storm(stack: Stack, users: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Spawn the client processes, let them open every stream; merge their results."""
    streams = len(users) * args.tabs
    count = args.workers or max(1, math.ceil(streams / STREAMS_PER_WORKER))
    start_at = time.time() + 2.0
    procs = []
    for i in range(count):
        spec = {
            "mode": "storm",
            "port": stack.relay_port,
            "path": "/api/v1/notifications/stream?token={token}",
            "users": users[i::count],
            "tabs": args.tabs,
            "source": f"127.0.0.{2 + i}",
            "secret": SECRET,
            "start_at": start_at,
            "spread_s": args.spread,
            "deadline_s": args.deadline,
        }
        proc = await start_worker(spec)
        procs.append(proc)
    results = []
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), args.deadline + 60)
        results.append(json.loads(line))
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 30)
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "streams": sum(r["streams"] for r in results),
        "statuses": statuses,
        "heads": sorted(t for r in results for t in r["heads"]),
        "snapshots": sorted(t for r in results for t in r["snapshots"]),
        "no_stats": sum(r["no_stats"] for r in results),
        "refused": sum(r.get("refused", 0) for r in results),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "client_processes": count,
    }


async def _profile(pid: int, args: argparse.Namespace) -> asyncio.subprocess.Process | None:
    """``--py-spy``: sample the relay during the storm (collapsed stacks in bench/results/)."""
    if not args.py_spy:
        return None
    out = RESULTS / f"storm-relay-{time.strftime('%Y%m%d-%H%M%S')}.folded"
    argv = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    progress(f"py-spy -> {out}")
    return await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


def _times(ordered: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(percentile(ordered, 0.5), 3),
        "p99_s": round(percentile(ordered, 0.99), 3),
        "max_s": round(max(ordered, default=float("nan")), 3),
    }


async def storm(qahub: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One storm against one fresh API + relay from ``qahub``'s checkout."""
    users = [f"u{i:05d}" for i in range(args.users)]
    relay_env = {"MAX_STREAMS_PER_USER": str(max(10, args.tabs))}
    async with Stack("storm", relay_env=relay_env, qahub=qahub) as stack:
        assert stack.api is not None
        assert stack.relay is not None
        await seed(stack, users, args.seed)
        relay_url = f"http://127.0.0.1:{stack.relay_port}"
        admin = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', role='admin')}"}
        probes = {
            "readyz": Probe(f"{relay_url}/readyz"),
            "healthz": Probe(f"{relay_url}/healthz"),
            "connections": Probe(f"{relay_url}/api/v1/notifications/stream/connections", admin),
        }
        async with httpx.AsyncClient(timeout=30) as http:
            await asyncio.sleep(1)  # the seed's events reach the relay
            gets0 = api_gets((await http.get(f"{stack.api_base}/metrics")).text)
            cpu0 = {"relay": proc_cpu(stack.relay.pid), "api": proc_cpu(stack.api.pid)}
            waited0 = run_queue_s(stack.relay.pid)
            stop = asyncio.Event()
            polling = [asyncio.create_task(p.run(stop)) for p in probes.values()]
            progress(f"storm: {len(users) * args.tabs} streams of {len(users)} users ({qahub})")
            spy = await _profile(stack.relay.pid, args)
            opened = await open_storm(stack, users, args)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # our own py-spy: it writes its profile and exits
                await spy.wait()
            stop.set()
            await asyncio.gather(*polling)
            cpu = {
                "relay": round(proc_cpu(stack.relay.pid) - cpu0["relay"], 2),
                "api": round(proc_cpu(stack.api.pid) - cpu0["api"], 2),
                "relay_waiting_for_a_cpu": round(run_queue_s(stack.relay.pid) - waited0, 2),
            }
            gets = api_gets((await http.get(f"{stack.api_base}/metrics")).text) - gets0
            fetches = None
            with contextlib.suppress(httpx.HTTPError):  # a relay still stuck in the storm
                fetches = relay_requests((await http.get(f"{relay_url}/metrics")).text)
    n = opened["streams"]
    return {
        "streams": n,
        "users": len(users),
        "statuses": opened["statuses"],
        "head": _times(opened["heads"]),
        "snapshot": _times(opened["snapshots"]),
        "without_snapshot": n - len(opened["snapshots"]),
        "without_stats": opened["no_stats"] + n - len(opened["heads"]),
        "refused_then_retried": opened["refused"],
        "api_gets_per_stream": round(gets / max(1, n), 3),
        "relay_snapshot_requests": fetches,
        "cpu_s": cpu,
        "probes": {k: p.summary() for k, p in probes.items()},
        "client_cpu_s": opened["client_cpu_s"],
        "client_processes": opened["client_processes"],
    }


async def run(args: argparse.Namespace) -> None:
    load0 = load_avg()
    args.tabs = max(1, args.streams // args.users)
    runs: dict[str, Any] = {}
    if args.before is not None:
        runs["before"] = await storm(args.before / ".venv/bin/qahub-notify", args)
        progress(f"before: {json.dumps(runs['before'])}")
    runs["after"] = await storm(QAHUB, args)
    summary = {
        "streams": args.streams,
        "users": args.users,
        "spread_s": args.spread,
        "seed": args.seed,
        **runs,
        "loadavg_1m": round(load0, 2),
    }
    write_result("storm", summary, {})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds to open them all in")
    parser.add_argument("--seed", type=int, default=3, help="unread notifications per user")
    parser.add_argument("--deadline", type=float, default=60, help="seconds a stream may wait")
    parser.add_argument("--workers", type=int, default=0, help="client processes (0: auto)")
    parser.add_argument("--py-spy", action="store_true", help="profile the relay (py-spy)")
    parser.add_argument("--before", type=Path, default=None, help="another checkout, run first")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

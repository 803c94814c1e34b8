# ruff: noqa: S101 - asserts narrow types for the reader
"""Scenario 3, connections: many idle streams on one relay process, beside one Nchan process.

Opens ``--streams`` streams (10 tabs per user by default), in several client
processes (one loopback source address each, so ephemeral ports never run out);
both servers get a raised open-files limit. Then measures, per server: RSS per
stream (RSS after connect minus before), CPU while idle for two heartbeat
intervals (heartbeat cost per stream), and that every stream still receives a
final event (one notification per user). By default the relay's connect-time
API snapshot is skipped (``--snapshot none``: NOTIFICATIONS_API_URL points at a
closed port, the relay's documented API-down path), so the figure is the relay's
own cost per stream, not the API's at 2 x streams GETs.

    uv run python bench/connections.py [--streams 10000] [--tabs 10] [--heartbeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from common import Stack, load_avg, proc_cpu, proc_rss, write_result
from loadgen import Target, nchan, ours, progress
from nchan import Nchan
from posting import plan_round_robin, post_all
from workers import Workers


async def idle_streams(target: Target, server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    users = [f"c{i:06d}" for i in range(args.streams // args.tabs)]
    expect = dict.fromkeys(users, 1)
    idle_s = 2 * args.heartbeat + 1
    deadline = idle_s + 120 + len(users) / 50
    await asyncio.sleep(1)
    rss0 = proc_rss(server_pid)
    workers = Workers(target, users, args.tabs, expect, deadline)
    try:
        opened = await workers.start()
        progress(f"{target.name}: {opened['ready']} streams open ({opened['failed']} failed)")
        await asyncio.sleep(1)
        rss1 = proc_rss(server_pid)
        cpu0 = proc_cpu(server_pid)
        await asyncio.sleep(idle_s)
        idle_cpu = proc_cpu(server_pid) - cpu0
        progress(f"{target.name}: idle {idle_s}s, {idle_cpu:.2f}s CPU; final event per user")
        sent = await post_all(
            target,
            plan_round_robin(users, len(users)),
            rate=None,
            concurrency=32,
            deadline_s=deadline,
        )
        got = await workers.result()
    finally:
        await workers.close()
    streams = max(1, opened["ready"])
    beats = streams * idle_s / args.heartbeat
    return {
        "streams": opened["ready"],
        "connect_failed": opened["failed"],
        "connect_s": opened["connect_s"],
        "rss_before_mb": round(rss0 / 2**20, 1),
        "rss_after_mb": round(rss1 / 2**20, 1),
        "rss_per_stream_kib": round((rss1 - rss0) / streams / 1024, 2),
        "idle_s": idle_s,
        "idle_cpu_s": round(idle_cpu, 3),
        "idle_cpu_pct": round(idle_cpu / idle_s * 100, 1),
        "heartbeat_cpu_us_per_stream_beat": round(idle_cpu / beats * 1e6, 2),
        "heartbeats_received": got["heartbeats"],
        "final_posted": len(users) - len(sent.failures),
        "final_received_streams": got["complete"],
        "lost": got["lost"],
        "duplicated": got["duplicated"],
        "closed_by_server": got["closed_by_server"],
        "client_cpu_s": round(got["client_cpu_s"] + sent.client_cpu_s, 3),
        "client_processes": got["processes"],
        "errors": got["errors"],
    }


async def run(args: argparse.Namespace) -> None:
    load0 = load_avg()
    relay_env = {
        "SSE_HEARTBEAT_SECONDS": str(args.heartbeat),
        "MAX_STREAMS_PER_USER": str(max(10, args.tabs)),
    }
    snapshot = args.snapshot == "api"
    async with Stack("connections", relay_env=relay_env, snapshot_api=snapshot) as stack:
        assert stack.relay is not None
        our = await idle_streams(ours(stack), stack.relay.pid, args)
    peer = None
    if args.peer == "nchan":
        async with Nchan(heartbeat=args.heartbeat) as server:
            assert server.child is not None
            peer = await idle_streams(nchan(server), server.child.pid, args)
    keys = (
        "streams",
        "rss_per_stream_kib",
        "heartbeat_cpu_us_per_stream_beat",
        "idle_cpu_pct",
        "final_received_streams",
        "lost",
        "duplicated",
        "connect_s",
        "client_cpu_s",
    )
    summary = {
        "streams": args.streams,
        "tabs": args.tabs,
        "heartbeat_s": args.heartbeat,
        "snapshot": args.snapshot,
        "ours": {k: our[k] for k in keys},
        "nchan": {k: peer[k] for k in keys} if peer else None,
        "loadavg_1m": round(load0, 2),
    }
    write_result("connections", summary, {"ours": our, "nchan": peer})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--heartbeat", type=int, default=5)
    parser.add_argument("--snapshot", choices=["none", "api"], default="none")
    parser.add_argument("--peer", choices=["nchan", "none"], default="nchan")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

# ruff: noqa: RUF002, RUF003 - × reads as "times"
"""One delivery run: streams open, POSTs, everything received (or the deadline); its figures."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from common import ms_percentiles, proc_cpu
from hops import LogObserver, hops
from loadgen import Target, broker_pid, progress
from posting import plan_round_robin, post_all
from workers import Workers


async def deliver(
    target: Target,
    *,
    users: list[str],
    tabs: int,
    count: int,
    rate: float | None,
    concurrency: int,
    deadline_s: float,
) -> dict[str, Any]:
    """Open ``users × tabs`` streams, POST ``count`` notifications round-robin over the users,
    wait until every stream has its user's seqs; figures, checks and CPU of every process."""
    plan = plan_round_robin(users, count)
    expect: dict[str, int] = {}
    for user, _ in plan:
        expect[user] = expect.get(user, 0) + 1
    workers = Workers(target, users, tabs, expect, deadline_s)
    try:
        opened = await workers.start()
        progress(f"{target.name}: {opened['ready']} streams open ({opened['failed']} failed)")
        observer = LogObserver(target.stack.amqp_url) if target.stack else None
        async with observer or contextlib.nullcontext():
            broker = broker_pid()
            cpu0, broker0 = target.cpu(), proc_cpu(broker) if broker else 0.0
            sent = await post_all(
                target, plan, rate=rate, concurrency=concurrency, deadline_s=deadline_s
            )
            progress(f"{target.name}: {len(plan) - len(sent.failures)} posted")
            got = await workers.result()
            progress(f"{target.name}: {got['unique']}/{got['expected']} received")
            cpu1, broker1 = target.cpu(), proc_cpu(broker) if broker else 0.0
            await asyncio.sleep(0.2)  # late observer deliveries
    finally:
        await workers.close()
    window = max(got["last_arrival"] - sent.started, 1e-9)
    server_cpu = {k: round(cpu1[k] - cpu0[k], 3) for k in cpu0}
    server = "relay" if target.name == "ours" else "nchan"
    requests = sorted(sent.request_latencies)
    return {
        "streams": opened["ready"],
        "connect_failed": opened["failed"],
        "connect_s": opened["connect_s"],
        "posted": len(plan) - len(sent.failures),
        "post_failures": sent.failures[:5],
        "posts_per_s": round(len(requests) / max(sent.finished - sent.started, 1e-9), 1),
        "request_ms": ms_percentiles(requests),
        "expected": got["expected"],
        "delivered": got["delivered"],
        "lost": got["lost"],
        "duplicated": got["duplicated"],
        "closed_by_server": got["closed_by_server"],
        "window_s": round(window, 3),
        "events_per_s": round(got["unique"] / window, 1),
        "server_cpu_s": server_cpu,
        f"{server}_cpu_us_per_event": round(server_cpu[server] / max(1, got["delivered"]) * 1e6, 1),
        "broker_cpu_s": round(broker1 - broker0, 3) if broker else None,
        "client_cpu_s": round(got["client_cpu_s"] + sent.client_cpu_s, 3),
        "client_processes": got["processes"] + 1,
        "hops": hops(sent, observer),
        "hist": got["hist"],
        "max_latency_ms": got["max_latency_ms"],
        "errors": got["errors"],
        "incomplete_streams": got["incomplete"],
    }

# ruff: noqa: RUF003 - asserts narrow types for the reader; × reads as "times"
"""Scenario 1, latency: POST → DB + outbox → RabbitMQ → relay → SSE, beside Nchan and the floor.

100 users with one stream each; 2,000 notifications paced at 200/s, round-robin
over the users. Prints one JSON line (ours / nchan / floor); details with the
histograms go to bench/results/.

    uv run python bench/latency.py [--users 100] [--count 2000] [--rate 200] [--peer nchan|none]
        [--via http|command|both]

`--via command` publishes DESIGN §9 commands (persistent, confirmed) instead of POSTing;
`both` measures the two doors one after the other in the same run, each on a fresh stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from common import Stack, create_vhost, delete_vhost, hist_summary, load_avg, write_result
from delivery import deliver
from floor import floor
from loadgen import nchan, ours
from nchan import Nchan


async def measure_floor(count: int) -> dict[str, Any]:
    vhost = "bench-floor-" + str(id(count))
    await create_vhost(vhost)
    try:
        return await floor(f"amqp://guest:guest@127.0.0.1:5672/{vhost}", count)
    finally:
        await delete_vhost(vhost)


def side(figures: dict[str, Any]) -> dict[str, Any]:
    lat = hist_summary(figures["hist"])
    return {
        "p50_ms": lat.get("p50_ms"),
        "p95_ms": lat.get("p95_ms"),
        "p99_ms": lat.get("p99_ms"),
        "max_ms": figures["max_latency_ms"],
        "delivered": figures["delivered"],
        "lost": figures["lost"],
        "duplicated": figures["duplicated"],
        "client_cpu_s": figures["client_cpu_s"],
    }


async def run(args: argparse.Namespace) -> None:
    users = [f"u{i:05d}" for i in range(args.users)]
    kwargs = {
        "users": users,
        "tabs": 1,
        "count": args.count,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "deadline_s": args.count / args.rate + 60,
    }
    load0 = load_avg()
    floor_figures = await measure_floor(args.floor_count)
    doors: dict[str, dict[str, Any]] = {}
    for door in ["http", "command"] if args.via == "both" else [args.via]:
        async with Stack("latency", database=args.database) as stack:
            doors[door] = await deliver(ours(stack, via_commands=door == "command"), **kwargs)
    our = doors.get("http") or doors["command"]
    peer = None
    if args.peer == "nchan":
        async with Nchan() as server:
            peer = await deliver(nchan(server), **kwargs)
    summary: dict[str, Any] = {
        "users": args.users,
        "count": args.count,
        "rate": args.rate,
        "database": args.database,
        "ours": side(our) | {"hops": our["hops"]},
        "via_command": (
            side(doors["command"]) | {"hops": doors["command"]["hops"]}
            if "command" in doors and "http" in doors
            else None
        ),
        "nchan": side(peer) if peer else None,
        "floor_ms": floor_figures["publish_confirm_consume_ms"],
        "loadavg_1m": round(load0, 2),
    }
    details = {
        "ours": our | {"latency": hist_summary(our["hist"])},
        "via_command": (
            doors["command"] | {"latency": hist_summary(doors["command"]["hist"])}
            if "command" in doors and "http" in doors
            else None
        ),
        "nchan": (peer | {"latency": hist_summary(peer["hist"])}) if peer else None,
        "floor": floor_figures,
    }
    write_result("latency", summary, details)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--floor-count", type=int, default=500)
    parser.add_argument("--peer", choices=["nchan", "none"], default="nchan")
    parser.add_argument("--via", choices=["http", "command", "both"], default="http")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

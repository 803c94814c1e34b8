"""Scenario 2, fan-out: many tabs per user, notifications as fast as the API takes them.

Shapes 500 users x 4 tabs and 100 users x 20 tabs (the relay, not the API, is
the bottleneck in the second). By default the relay's connect-time API snapshot
is skipped (``--snapshot none``, as in connections.py): 2,000 streams would
otherwise first measure 4,000 API GETs. Reports SSE events/s delivered by one relay
process, the relay's CPU per delivered event (µs), the per-hop breakdown
(POST → commit → event log; the relay's own hop is the rest of the end-to-end
latency), beside Nchan (one process) in the same run.

    uv run python bench/fanout.py [--shape 500x4,100x20] [--count 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from common import Stack, hist_summary, load_avg, write_result
from delivery import deliver
from loadgen import nchan, ours
from nchan import Nchan


def side(figures: dict[str, Any], server: str) -> dict[str, Any]:
    lat = hist_summary(figures["hist"])
    return {
        "events_per_s": figures["events_per_s"],
        "cpu_us_per_event": figures[f"{server}_cpu_us_per_event"],
        "posts_per_s": figures["posts_per_s"],
        "p50_ms": lat.get("p50_ms"),
        "p99_ms": lat.get("p99_ms"),
        "delivered": figures["delivered"],
        "lost": figures["lost"],
        "duplicated": figures["duplicated"],
        "closed_by_server": figures["closed_by_server"],
        "server_cpu_s": figures["server_cpu_s"],
        "client_cpu_s": figures["client_cpu_s"],
    }


async def run(args: argparse.Namespace) -> None:
    load0 = load_avg()
    summary: dict[str, Any] = {
        "count": args.count,
        "database": args.database,
        "snapshot": args.snapshot,
    }
    details: dict[str, Any] = {}
    for shape in args.shape.split(","):
        n_users, tabs = (int(x) for x in shape.split("x"))
        users = [f"u{i:05d}" for i in range(n_users)]
        kwargs = {
            "users": users,
            "tabs": tabs,
            "count": args.count,
            "rate": None,
            "concurrency": args.concurrency,
            "deadline_s": args.deadline,
        }
        relay_env = {"MAX_STREAMS_PER_USER": str(max(10, tabs))}
        snapshot = args.snapshot == "api"
        async with Stack(
            "fanout", database=args.database, relay_env=relay_env, snapshot_api=snapshot
        ) as stack:
            our = await deliver(ours(stack), **kwargs)
        peer = None
        if args.peer == "nchan":
            async with Nchan() as server:
                peer = await deliver(nchan(server), **kwargs)
        summary[shape] = {
            "ours": side(our, "relay") | {"hops": our["hops"]},
            "nchan": side(peer, "nchan") if peer else None,
        }
        details[shape] = {"ours": our, "nchan": peer}
    summary["loadavg_1m"] = round(load0, 2)
    write_result("fanout", summary, details)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", default="500x4,100x20")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--deadline", type=float, default=180)
    parser.add_argument(
        "--snapshot",
        choices=["none", "api"],
        default="none",
        help="the relay's connect-time stats/recent fetch: none (API-down path) or the API",
    )
    parser.add_argument("--peer", choices=["nchan", "none"], default="nchan")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""Scenario 4, replay: reconnect after N missed events, and relay start-up over a long log.

Part 1 (beside Nchan): a client sees one event, disconnects, misses ``--missed``
events (posted meanwhile, confirmed indexed by a watcher stream), reconnects with
``Last-Event-ID``; time from reconnect until the last missed event arrived,
``--repeat`` times (the same id replays the same events). Checks every missed
event arrives once and that the stream was recovered (no ``recent``).

Part 2 (ours only): ``--log-events`` events are published straight to the
exchange (as the API's outbox would), then a fresh relay starts; time from
process start until ``/readyz`` (subscribed and caught up: the index is built),
and its RSS. The relay runs with ``RELAY_STATE_DIR``: the first start reads
the log from RabbitMQ (``cold``); then it is restarted after a SIGTERM
(``restart``) and after a SIGKILL (``crash``), rebuilding its index from its
local copy and reading only the tail from RabbitMQ. Use ``--log-events
1000000`` for the issue's figure.

    uv run python bench/replay.py [--missed 1000] [--repeat 5] [--log-events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aio_pika
import httpx
import uvloop
from common import SECRET, Stack, load_avg, proc_rss, write_result
from loadgen import Target, nchan, ours, progress
from nchan import Nchan
from posting import post_all
from wire import open_stream

from qahub_contracts.api import Notification, Stats
from qahub_contracts.auth import mint_token
from qahub_contracts.events import NotificationCreated, encode_event
from qahub_contracts.topology import EXCHANGE

USER = "r00001"


def stream_path(target: Target) -> str:
    token = mint_token(SECRET, USER, ttl_seconds=7200) if target.name == "ours" else ""
    return target.sse_path.format(user=USER, token=token)


async def wait_for(cond: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError("bounded wait expired")
        await asyncio.sleep(0.01)


async def reconnect(target: Target, missed: int, repeat: int) -> dict[str, Any]:
    path = stream_path(target)
    ready = b"stats" if target.name == "ours" else None
    first = await open_stream(target.sse_port, path, None, ready_event=ready)
    await post_all(target, [(USER, 0)], rate=None, concurrency=1, deadline_s=30)
    await wait_for(lambda: len(first.seqs) == 1, 30)
    last_id = first.last_id
    first.close()
    watcher = await open_stream(target.sse_port, path, None, ready_event=ready)
    plan = [(USER, seq) for seq in range(1, missed + 1)]
    await post_all(target, plan, rate=None, concurrency=16, deadline_s=120)
    await wait_for(lambda: len(watcher.seqs) >= missed, 120)  # the server has them all
    watcher.close()
    progress(f"{target.name}: {missed} missed events posted; reconnecting with {last_id}")
    times: list[float | None] = []
    first_byte: list[float] = []
    checks: list[dict[str, Any]] = []
    for _ in range(repeat):
        started = time.perf_counter()
        again = await open_stream(target.sse_port, path, None, last_event_id=last_id, keep_ids=True)
        first_byte.append(time.perf_counter() - started)
        try:
            await wait_for(lambda s=again: len(s.seqs) >= missed, 30)
            times.append(time.perf_counter() - started)
        except TimeoutError:
            times.append(None)
        checks.append(
            {
                "received": len(again.seqs),
                "lost": len(set(range(1, missed + 1)) - again.seqs),
                "duplicated": again.duplicates,
                "recovered": "recent" not in again.event_names,
            }
        )
        again.close()
    done = [t for t in times if t is not None]
    return {
        "missed": missed,
        "replay_ms_median": round(statistics.median(done) * 1000, 2) if done else None,
        "replay_ms_max": round(max(done) * 1000, 2) if done else None,
        "incomplete_runs": len(times) - len(done),
        "headers_ms_median": round(statistics.median(first_byte) * 1000, 2),
        "lost": sum(c["lost"] for c in checks),
        "duplicated": sum(c["duplicated"] for c in checks),
        "recovered": all(c["recovered"] for c in checks),
        "runs": checks,
        "times_ms": [round(t * 1000, 2) if t is not None else None for t in times],
    }


async def fill_log(amqp_url: str, events: int, users: int, window: int) -> float:
    """Publish ``events`` NotificationCreated events with confirms, ``window`` at a time
    (RabbitMQ stores what arrives together as one chunk); seconds taken."""
    started = time.perf_counter()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE)
        for base in range(0, events, window):
            batch = []
            for i in range(base, min(events, base + window)):
                user = f"s{i % users:06d}"
                now = datetime.now(UTC)
                event = NotificationCreated(
                    user_id=user,
                    stats=Stats(total=i // users + 1, unread=i // users + 1, read=0),
                    notification=Notification(
                        id=uuid.uuid4(),
                        type="bench",
                        notifiable_id=user,
                        data={"seq": i, "t": time.time()},
                        read_at=None,
                        created_at=now,
                    ),
                )
                message = aio_pika.Message(
                    encode_event(event),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(event.event_id),
                    type=event.event_type,
                )
                batch.append(exchange.publish(message, event.event_type, mandatory=True))
            await asyncio.gather(*batch)
            if base and base % 100_000 == 0:
                progress(f"log: {base} events published")
    return time.perf_counter() - started


async def startup(args: argparse.Namespace) -> dict[str, Any]:
    async with Stack("startup", relay=False) as stack:
        stack.relay_env["RELAY_STATE_DIR"] = str(stack.tmp / "relay-state")
        fill_s = await fill_log(stack.amqp_url, args.log_events, args.log_users, args.fill_window)
        progress(f"log: {args.log_events} events in {fill_s:.1f}s; starting the relay")
        relay = await stack.start_relay()
        cold_s, rss = stack.relay_ready_s or float("nan"), proc_rss(relay.pid)
        cold = await indexed(stack)
        progress(f"cold start {cold_s:.1f}s {cold}; restarting after SIGTERM")
        relay = await stack.start_relay()  # stops the running one with SIGTERM first
        restart_s = stack.relay_ready_s or float("nan")
        restart = await indexed(stack)
        progress(f"restart {restart_s:.1f}s {restart}; restarting after SIGKILL")
        relay.proc.kill()
        relay.proc.wait(10)
        await stack.start_relay()
        crash_s = stack.relay_ready_s or float("nan")
        crash = await indexed(stack)
    return {
        "indexed_when_ready": {"cold": cold, "restart": restart, "crash": crash},
        "log_events": args.log_events,
        "log_users": args.log_users,
        "fill_window": args.fill_window,
        "fill_s": round(fill_s, 2),
        "relay_ready_s": {
            "cold": round(cold_s, 3),
            "restart": round(restart_s, 3),
            "crash": round(crash_s, 3),
        },
        "relay_rss_mb": round(rss / 2**20, 1),
    }


async def indexed(stack: Stack) -> dict[str, Any]:
    """What the just-ready relay holds: its last offset and its index size."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.relay_port}") as http:
        ready = (await http.get("/readyz")).json()["consumer"]
        metrics = (await http.get("/metrics")).text
    size = next(
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("stream_relay_indexed_events ")
    )
    return {"last_offset": ready["lastOffset"], "events": int(size)}


async def run(args: argparse.Namespace) -> None:
    load0 = load_avg()
    relay_env = {"REPLAY_MAX_EVENTS_PER_USER": str(args.index_per_user)}
    async with Stack("replay", relay_env=relay_env) as stack:
        our = await reconnect(ours(stack), args.missed, args.repeat)
    peer = None
    if args.peer == "nchan":
        async with Nchan(buffer=args.missed + 100) as server:
            peer = await reconnect(nchan(server), args.missed, args.repeat)
    start = await startup(args) if args.log_events else None
    keys = ("replay_ms_median", "replay_ms_max", "lost", "duplicated", "recovered")
    summary = {
        "missed": args.missed,
        "index_per_user": args.index_per_user,
        "ours": {k: our[k] for k in keys},
        "nchan": {k: peer[k] for k in keys} if peer else None,
        "startup": start,
        "loadavg_1m": round(load0, 2),
    }
    write_result("replay", summary, {"ours": our, "nchan": peer, "startup": start})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--missed", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--index-per-user",
        type=int,
        default=2000,
        help="REPLAY_MAX_EVENTS_PER_USER for the relay (its default, 1000, cannot hold the "
        "last seen event plus 1000 missed ones)",
    )
    parser.add_argument("--log-events", type=int, default=20_000)
    parser.add_argument("--log-users", type=int, default=1000)
    parser.add_argument(
        "--fill-window",
        type=int,
        default=500,
        help="publishes in flight while filling the log: 500 gives chunks of ~5 messages; 1 "
        "gives one message per chunk, as an API writing a few hundred events/s does (RabbitMQ "
        "costs ~80 us of CPU per chunk read back over AMQP)",
    )
    parser.add_argument("--peer", choices=["nchan", "none"], default="nchan")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

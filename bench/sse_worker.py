"""One load-generator process: opens many SSE streams and reports what they received.

Spawned by the scenarios (``python bench/sse_worker.py``), never by hand. Reads one
JSON spec line on stdin::

    {"port", "path": ".../stream?token={token}" | "/sub/{user}", "users": [...],
     "tabs", "expect": {user: n}, "source": "127.0.0.2", "deadline_s", "secret"}

prints ``{"ready": ...}`` once every stream is open (or failed), then a result line
once every stream has its expected events, the deadline passes, or ``stop`` arrives
on stdin.

With ``"mode": "storm"`` (bench/storm.py) the spec also has ``start_at`` (a wall-clock
time) and ``spread_s``: stream i of n opens at ``start_at + spread_s * i / n`` with no
gate, and the one result line gives, per stream, the seconds from its connect to the
response head and to its snapshot (the ``recent`` frame), and whether ``stats`` came.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop
from common import raise_nofile, self_cpu
from wire import SseStream, open_stream

from qahub_contracts.auth import mint_token

CONNECT_CONCURRENCY = 200


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(spec: dict) -> None:
    port, template = spec["port"], spec["path"]
    expect: dict[str, int] = spec.get("expect", {})
    hist: dict[int, int] = {}
    streams: list[SseStream] = []
    errors: list[str] = []
    complete = 0
    all_done = asyncio.Event()
    total = len(spec["users"]) * spec["tabs"]

    def on_complete() -> None:
        nonlocal complete
        complete += 1
        if complete >= total:
            all_done.set()

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(user: str) -> None:
        token = mint_token(spec["secret"], user, ttl_seconds=7200) if "{token}" in template else ""
        path = template.format(user=user, token=token)
        async with gate:
            try:
                ready = spec.get("ready_event")
                stream = await open_stream(
                    port,
                    path,
                    hist,
                    source=spec.get("source"),
                    ready_event=ready.encode() if ready else None,
                )
            except (OSError, TimeoutError) as exc:
                errors.append(f"connect: {type(exc).__name__}: {exc}")
                return
        if stream.status != 200:
            errors.append(f"status {stream.status}")
            stream.close()
            return
        stream.expect = expect.get(user, 0)
        stream.on_complete = on_complete
        stream.user = user  # type: ignore[attr-defined]
        streams.append(stream)

    started = time.perf_counter()
    # Each round opens one tab of every user: a dead relay's clients come back after
    # their own jittered `retry:`, so a user's tabs do not arrive side by side.
    users = [u for _ in range(spec["tabs"]) for u in spec["users"]]
    await asyncio.gather(*(connect(u) for u in users))
    connect_s = time.perf_counter() - started
    total = sum(1 for s in streams if s.expect > 0)  # a stream expecting nothing is done
    if complete >= total:
        all_done.set()
    emit({"ready": len(streams), "failed": len(errors), "connect_s": round(connect_s, 3)})
    loop = asyncio.get_running_loop()
    stop = loop.run_in_executor(None, sys.stdin.readline)
    waiter = asyncio.ensure_future(all_done.wait())
    await asyncio.wait({stop, waiter}, timeout=spec["deadline_s"], return_when="FIRST_COMPLETED")
    waiter.cancel()
    lost = sum(max(0, s.expect - len(s.seqs)) for s in streams)
    result = {
        "streams": len(streams),
        "failed_connect": len(errors) + (len(users) - len(streams) - len(errors)),
        "complete": sum(1 for s in streams if len(s.seqs) >= s.expect),
        "expected": sum(s.expect for s in streams),
        "delivered": sum(s.events for s in streams),
        "unique": sum(len(s.seqs) for s in streams),
        "lost": lost,
        "duplicated": sum(s.duplicates for s in streams),
        "closed_by_server": sum(1 for s in streams if s.closed.done()),
        "heartbeats": sum(s.heartbeats for s in streams),
        "last_arrival": max((s.last_arrival for s in streams), default=0.0),
        "max_latency": max((s.max_latency for s in streams), default=0.0),
        "hist": hist,
        "incomplete": [
            {"user": s.user, "got": len(s.seqs), "expect": s.expect, "frames": s.frames}  # type: ignore[attr-defined]
            for s in streams
            if len(s.seqs) < s.expect
        ][:20],
        "errors": errors[:5],
        "connect_s": round(connect_s, 3),
        "cpu_s": round(self_cpu(), 3),
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    for s in streams:
        s.close()
    emit(result)


async def open_admitted(
    spec: dict, path: str, deadline: float, statuses: dict[str, int]
) -> tuple[SseStream | None, int]:
    """Open one stream; a 503 with ``Retry-After`` is tried again then, as the browser
    client does, until ``deadline`` (``None``: never opened). Counts every answer in
    ``statuses``; returns the stream and how many refusals it took."""
    refusals = 0
    while True:
        try:
            stream = await open_stream(
                spec["port"],
                path,
                None,
                source=spec.get("source"),
                timeout=spec["deadline_s"],
                keep_ids=True,
                ready_event=None,
            )
        except (OSError, TimeoutError) as exc:
            key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1
            return None, refusals
        statuses[str(stream.status)] = statuses.get(str(stream.status), 0) + 1
        if stream.status != 503 or stream.retry_after is None:
            return stream, refusals
        stream.close()
        refusals += 1
        if time.time() + stream.retry_after > deadline:
            return None, refusals
        await asyncio.sleep(stream.retry_after)


async def storm(spec: dict) -> None:
    """Open every stream at its planned moment; time each one to its head and snapshot."""
    template = spec["path"]
    # Each round opens one tab of every user: a dead relay's clients come back after
    # their own jittered `retry:`, so a user's tabs do not arrive side by side.
    users = [u for _ in range(spec["tabs"]) for u in spec["users"]]
    n = max(1, len(users))
    tokens = {u: mint_token(spec["secret"], u, ttl_seconds=7200) for u in spec["users"]}
    statuses: dict[str, int] = {}
    heads: list[float] = []
    snapshots: list[float] = []
    no_stats = refused = 0
    streams: list[SseStream] = []

    async def one(i: int, user: str) -> None:
        nonlocal no_stats, refused
        await asyncio.sleep(max(0.0, spec["start_at"] + spec["spread_s"] * i / n - time.time()))
        started = time.perf_counter()
        path = template.format(user=user, token=tokens[user])
        deadline = spec["start_at"] + spec["deadline_s"]
        stream, refusals = await open_admitted(spec, path, deadline, statuses)
        refused += refusals
        if stream is None:
            return
        streams.append(stream)
        if stream.status != 200:
            return
        heads.append(time.perf_counter() - started)
        stream.ready_event = b"recent"
        if "recent" in stream.event_names:
            stream.initial.set_result(None)
        left = deadline - time.time()
        await asyncio.wait(
            {stream.initial, stream.closed}, timeout=max(0.0, left), return_when="FIRST_COMPLETED"
        )
        if stream.initial.done():
            snapshots.append(time.perf_counter() - started)
        if "stats" not in stream.event_names:
            no_stats += 1

    await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
    emit(
        {
            "streams": len(users),
            "statuses": statuses,
            "heads": heads,
            "snapshots": snapshots,
            "no_stats": no_stats,
            "refused": refused,
            "cpu_s": round(self_cpu(), 3),
        }
    )
    for s in streams:
        s.close()


def main() -> None:
    raise_nofile()
    spec = json.loads(sys.stdin.readline())
    uvloop.run(storm(spec) if spec.get("mode") == "storm" else run(spec))


if __name__ == "__main__":
    main()

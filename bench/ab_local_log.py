"""A/B: the relay's local index copy in SQLite against the hand-written segment files (ADR 0004).

The same ``--records`` records (realistic ``NotificationCreated`` bodies,
``--users`` users, offsets in order) go through each store in turn,
``--rounds`` times, alternating the order, each in a fresh temporary directory
(deleted after):

- ``segments``: the hand-written segment files the relay used before ADR 0004
  (``local_log.py`` as of commit ``SEGMENTS_COMMIT``, read from git history:
  CRC-checked length-prefixed records, buffered writes, ``flush()`` per tick);
- ``sqlite``: ``stream_relay.local_log.LocalLog`` as it is now (the standard
  library's ``sqlite3``, ``journal_mode=WAL``, ``synchronous=OFF``, appends
  written with ``executemany`` in one transaction per flush). Both hand each
  flush to the OS and neither fsyncs: the same guarantee.

Per store: append + flush throughput (records/s and CPU µs per record, a flush
every ``--flush-every`` records, as the consumer's 0.1 s tick does at a few
thousand events/s), load time back into a list (records/s, CPU µs per
record), and bytes on disk.

    uv run python bench/ab_local_log.py [--records 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from common import load_avg, write_result
from loadgen import progress

from qahub_contracts.api import Notification, Stats
from qahub_contracts.events import NotificationCreated, encode_event
from stream_relay.indexed_event import IndexedEvent
from stream_relay.local_log import LocalLog

MAX_AGE = 24 * 3600.0


SEGMENTS_COMMIT = "1555d81"  # the last commit with the hand-written segment files


def segments_module() -> ModuleType:
    """``local_log.py`` as it was at ``SEGMENTS_COMMIT`` (needs this git checkout)."""
    source = subprocess.run(
        ["git", "show", f"{SEGMENTS_COMMIT}:services/stream-relay/src/stream_relay/local_log.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent,
    ).stdout
    module = ModuleType("segment_local_log")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "segment_local_log.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module


def records(count: int, users: int) -> list[tuple[IndexedEvent, str]]:
    """``count`` entries as ingest makes them (1,000 distinct bodies, reused: low memory)."""
    bodies = []
    for i in range(min(count, 1000)):
        user = f"s{i % users:06d}"
        notification = Notification(
            id=uuid.uuid4(),
            type="bench",
            notifiable_id=user,
            data={"seq": i, "t": time.time(), "text": "Build #1234 of qahub/web passed"},
            read_at=None,
            created_at=datetime.now(UTC),
        )
        event = NotificationCreated(
            user_id=user, stats=Stats(total=i + 1, unread=i + 1, read=0), notification=notification
        )
        bodies.append((user, str(event.event_id), encode_event(event)))
    now = time.time()
    out = []
    for offset in range(count):
        user, key, body = bodies[offset % len(bodies)]
        out.append((IndexedEvent(offset, user, key, now, body), key))
    return out


def disk_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def measure(
    name: str, data: list[tuple[IndexedEvent, str]], flush_every: int, stores: dict[str, Any]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"ab-{name}-") as tmp:
        directory = Path(tmp)
        store = stores[name].open(directory, max_age_seconds=MAX_AGE)
        cpu, wall = time.process_time(), time.perf_counter()
        for number, (entry, fingerprint) in enumerate(data, start=1):
            store.append(entry, fingerprint)
            if number % flush_every == 0:
                store.flush()
        store.close()
        append_wall, append_cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = disk_bytes(directory)
        loaded: list[IndexedEvent] = []
        cpu, wall = time.process_time(), time.perf_counter()
        again = stores[name].open(directory, max_age_seconds=MAX_AGE)
        asyncio.run(again.load(loaded.append))
        again.close()
        load_wall, load_cpu = time.perf_counter() - wall, time.process_time() - cpu
    if len(loaded) != len(data) or loaded[-1].body != data[-1][0].body:
        raise AssertionError(f"{name}: loaded {len(loaded)} of {len(data)} records")
    result = {
        "store": name,
        "append_per_s": round(len(data) / append_wall),
        "append_cpu_us": round(append_cpu / len(data) * 1e6, 2),
        "load_per_s": round(len(data) / load_wall),
        "load_cpu_us": round(load_cpu / len(data) * 1e6, 2),
        "load_s": round(load_wall, 3),
        "bytes_per_record": round(size / len(data), 1),
    }
    progress(f"{name}: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flush-every", type=int, default=500)
    args = parser.parse_args()
    if not 1 <= args.records <= 2_000_000:
        parser.error("--records must be between 1 and 2,000,000")
    data = records(args.records, args.users)
    stores = {"segments": segments_module().LocalLog, "sqlite": LocalLog}
    names = list(stores)
    runs = []
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            runs.append(measure(name, data, args.flush_every, stores))  # noqa: PERF401 - one at a time
    summary: dict[str, Any] = {"records": args.records, "flush_every": args.flush_every}
    for name in names:
        mine = [r for r in runs if r["store"] == name]
        summary[name] = {
            key: statistics.median(r[key] for r in mine) for key in mine[0] if key != "store"
        }
    summary["loadavg_1m"] = load_avg()
    write_result("ab_local_log", summary, {"runs": runs})


if __name__ == "__main__":
    main()

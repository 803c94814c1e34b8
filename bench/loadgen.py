# ruff: noqa: S101, RUF002, RUF003 - asserts narrow types for the reader; × reads as "times"
"""Drive a target (our stack or Nchan): SSE worker processes, paced or open-loop POSTs, an
observer on the event log, and the RabbitMQ floor.

A :class:`Target` hides the one difference between the two systems the scenarios
care about: where a stream subscribes and where a notification is posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import aio_pika
import orjson
from command_pool import CommandPool
from common import SECRET, Nchan, Stack, merge_hists, percentile, proc_cpu, python, self_cpu
from wire import PostPool, notification_body

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.events import decode_event
from qahub_contracts.topology import EVENT_LOG_QUEUE, EXCHANGE, stream_arguments

WORKER = Path(__file__).resolve().parent / "sse_worker.py"
STREAMS_PER_WORKER = 12_500  # one source address each: under the ~28k ephemeral ports


@dataclass
class Target:
    name: str
    sse_port: int
    sse_path: str
    post_port: int
    post_headers: dict[str, str]
    pids: dict[str, int]
    stack: Stack | None = None
    ready_event: str | None = None  # a stream counts as open once this frame arrived
    via_commands: bool = False  # publish DESIGN §9 commands instead of POSTing

    def sender(self, concurrency: int) -> PostPool | CommandPool:
        """Where the load loop sends each body: the API over HTTP, or the command exchange."""
        if self.via_commands and self.stack is not None:
            token = self.post_headers["Authorization"].removeprefix("Bearer ")
            return CommandPool(self.stack.amqp_url, token)
        return PostPool(self.post_port, concurrency, self.post_headers)

    def post_path(self, user: str) -> str:
        return f"/pub/{user}" if self.name == "nchan" else "/api/v1/notifications"

    def cpu(self) -> dict[str, float]:
        return {k: proc_cpu(pid) for k, pid in self.pids.items()}


def ours(stack: Stack, *, via_commands: bool = False) -> Target:
    assert stack.api is not None
    assert stack.relay is not None
    token = mint_token(SECRET, "bench-publisher", scope=PUBLISH_SCOPE, ttl_seconds=7200)
    return Target(
        name="ours",
        sse_port=stack.relay_port,
        sse_path="/api/v1/notifications/stream?token={token}",
        post_port=stack.api_port,
        post_headers={"Authorization": f"Bearer {token}"},
        pids={"relay": stack.relay.pid, "api": stack.api.pid},
        stack=stack,
        # the initial snapshot ends with `stats` (and `recent` when the API answered)
        ready_event="stats" if stack.snapshot_api else None,
        via_commands=via_commands,
    )


def nchan(peer: Nchan) -> Target:
    assert peer.child is not None
    return Target(
        name="nchan",
        sse_port=peer.port,
        sse_path="/sub/{user}",
        post_port=peer.port,
        post_headers={},
        pids={"nchan": peer.child.pid},
    )


def broker_pid() -> int | None:
    """The local RabbitMQ node (beam.smp), to report its CPU; never signalled."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "beam.smp":
                    return int(proc.name)
    return None


def progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ── SSE workers ─────────────────────────────────────────────────────────────


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
            proc = await asyncio.create_subprocess_exec(
                python(),
                str(WORKER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**26,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(spec).encode() + b"\n")
            await proc.stdin.drain()
            self.procs.append(proc)
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


# ── POST side ───────────────────────────────────────────────────────────────


@dataclass
class Sent:
    """What was posted: per seq its send time (for the hop breakdown), per user its count."""

    per_user: dict[str, int] = field(default_factory=dict)
    created_at: dict[int, float] = field(default_factory=dict)
    sent_at: dict[int, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    request_latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0


async def post_all(  # noqa: C901 - one paced loop with its worker
    target: Target,
    plan: list[tuple[str, int]],
    *,
    rate: float | None,
    concurrency: int,
    deadline_s: float,
) -> Sent:
    """POST each ``(user, seq)``; paced at ``rate``/s, or as fast as answers come (``None``)."""
    sent = Sent()
    for user, _ in plan:
        sent.per_user[user] = sent.per_user.get(user, 0) + 1
    cpu0 = self_cpu()
    async with target.sender(concurrency) as pool:

        async def one(user: str, seq: int) -> None:
            body = notification_body(user, seq)
            sent.sent_at[seq] = orjson.loads(body)["data"]["t"]
            try:
                status, answer = await pool.post(target.post_path(user), body)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                sent.failures.append(f"{seq}: {type(exc).__name__}")
                return
            if status not in (200, 201, 202):
                sent.failures.append(f"{seq}: {status} {answer[:100]!r}")
            elif target.name == "ours" and status == 201:
                created = orjson.loads(answer)["createdAt"]
                sent.created_at[seq] = datetime.fromisoformat(created).timestamp()

        sent.started = time.time()
        t0 = time.perf_counter()

        async def paced() -> None:
            tasks: set[asyncio.Task[None]] = set()
            gate = asyncio.Semaphore(concurrency * 4)
            for k, (user, seq) in enumerate(plan):
                if rate:
                    delay = t0 + k / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await gate.acquire()
                task = asyncio.create_task(one(user, seq))
                task.add_done_callback(lambda _: gate.release())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)

        await asyncio.wait_for(paced(), deadline_s)
        sent.finished = time.time()
        sent.request_latencies = pool.latencies
    sent.client_cpu_s = round(self_cpu() - cpu0, 3)
    return sent


def plan_round_robin(users: list[str], count: int, first_seq: int = 0) -> list[tuple[str, int]]:
    return [(users[k % len(users)], first_seq + k) for k in range(count)]


# ── the event log, seen from a plain consumer ───────────────────────────────


class LogObserver:
    """Consumes the event log from ``next``; the arrival time of each bench seq (hop timing)."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.arrived: dict[int, float] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def __aenter__(self) -> Self:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.time()
            event = decode_event(message.body)
            data = getattr(getattr(event, "notification", None), "data", None)
            if isinstance(data, dict) and "seq" in data:
                self.arrived.setdefault(int(data["seq"]), now)
            await message.ack()

        await queue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.sleep(0.3)  # attached at the head before the first POST
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()


def hops(sent: Sent, observer: LogObserver | None) -> dict[str, Any]:
    """POST → commit (createdAt), commit → event log (outbox + confirm + stream), in ms."""
    out: dict[str, Any] = {}
    commit = sorted(sent.created_at[s] - sent.sent_at[s] for s in sent.created_at)
    if commit:
        out["post_to_commit_ms"] = _p(commit)
    if observer is not None:
        log = sorted(
            observer.arrived[s] - sent.created_at[s]
            for s in observer.arrived
            if s in sent.created_at
        )
        whole = sorted(observer.arrived[s] - sent.sent_at[s] for s in observer.arrived)
        if log:
            out["commit_to_log_ms"] = _p(log)
        out["post_to_log_ms"] = _p(whole)
    return out


def _p(ordered: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(ordered, 0.5) * 1000, 2),
        "p99": round(percentile(ordered, 0.99) * 1000, 2),
        "n": len(ordered),
    }


# ── the floor ───────────────────────────────────────────────────────────────


async def floor(amqp_url: str, count: int = 500, deadline_s: float = 60) -> dict[str, Any]:
    """RabbitMQ alone: a persistent, mandatory, confirmed publish to the exchange, consumed
    from the stream queue; ``count`` sequential round trips."""
    confirms: list[float] = []
    trips: list[float] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            EVENT_LOG_QUEUE, durable=True, arguments=stream_arguments("1h")
        )
        await queue.bind(exchange, "notification.#")
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=100)
        cqueue = await consumer_channel.get_queue(EVENT_LOG_QUEUE)
        arrivals: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.put_nowait((message.body, time.perf_counter()))
            await message.ack()

        await cqueue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.sleep(0.3)
        cpu0 = self_cpu()
        started = time.perf_counter()
        for i in range(count):
            if time.perf_counter() - started > deadline_s:
                break
            body = orjson.dumps({"seq": i, "pad": "x" * 300})
            t0 = time.perf_counter()
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                "notification.created",
                mandatory=True,
            )
            confirms.append(time.perf_counter() - t0)
            while True:
                got, at = await asyncio.wait_for(arrivals.get(), 10)
                if got == body:
                    trips.append(at - t0)
                    break
        cpu = self_cpu() - cpu0
    confirms.sort()
    trips.sort()
    return {
        "round_trips": len(trips),
        "confirm_ms": _p(confirms),
        "publish_confirm_consume_ms": _p(trips),
        "client_cpu_us_per_trip": round(cpu / max(1, len(trips)) * 1e6, 1),
    }


# ── one delivery run: streams open, POSTs, everything received (or the deadline) ─


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
        "request_ms": _p(requests),
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

"""The POST side of a load: each ``(user, seq)`` sent once, paced or open-loop, bounded in time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from common import self_cpu
from loadgen import Target
from wire import notification_body


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

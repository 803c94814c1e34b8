"""A/B: the relay's client of the notifications API, httpx against aiohttp (ADR 0006).

Starts the API (its own vhost, its own SQLite database), gives ``--users``
users ``--seed`` unread notifications each, then fetches ``--requests``
snapshots (``GET /api/v1/notifications/snapshot``, round-robin over the
users, each with the user's own token) with each client in turn, ``--rounds``
times, alternating the order (A B B A ...), in this one process on uvloop,
both configured as the relay configures its pool: ``--concurrency`` requests
at a time over as many keep-alive connections. Per round: this process's CPU
per request (``time.process_time``: the relay's cost, the API's is apart) and
wall time; every request is bounded by a 30 s timeout and must answer 200.

    uv run python bench/ab_api_client.py [--requests 3000] [--users 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import uvloop
from common import SECRET, Stack, load_avg, write_result
from loadgen import progress
from storm import seed

from qahub_contracts.auth import mint_token

SNAPSHOT = "/api/v1/notifications/snapshot"
TIMEOUT_S = 30.0

Fetch = Callable[[str], Awaitable[int]]


async def with_httpx(base: str, concurrency: int, run: Callable[[Fetch], Awaitable[None]]) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT_S) as http:

        async def fetch(token: str) -> int:
            answer = await http.get(SNAPSHOT, headers={"Authorization": f"Bearer {token}"})
            _ = answer.content
            return answer.status_code

        await run(fetch)


async def with_aiohttp(
    base: str, concurrency: int, run: Callable[[Fetch], Awaitable[None]]
) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def fetch(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(base + SNAPSHOT, headers=headers) as answer:
                await answer.read()
                return answer.status

        await run(fetch)


CLIENTS = {"httpx": with_httpx, "aiohttp": with_aiohttp}


async def one_round(
    name: str, base: str, tokens: list[str], requests: int, concurrency: int
) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def run(fetch: Fetch) -> None:
        await fetch(tokens[0])  # the pool's first connection, outside the figures
        slots = asyncio.Semaphore(concurrency)
        statuses: dict[int, int] = {}

        async def one(i: int) -> None:
            async with slots:
                status = await fetch(tokens[i % len(tokens)])
            statuses[status] = statuses.get(status, 0) + 1

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert statuses == {200: requests}, statuses  # noqa: S101 - a bench that lies is worse
        result.update(
            client=name,
            cpu_us_per_request=round(cpu / requests * 1e6, 1),
            wall_s=round(wall, 3),
            requests_per_s=round(requests / wall),
        )

    await CLIENTS[name](base, concurrency, run)
    progress(f"{name}: {result}")
    return result


async def main(args: argparse.Namespace) -> None:
    async with Stack("ab-api-client", relay=False) as stack:
        users = [f"ab-{i}" for i in range(args.users)]
        await seed(stack, users, args.seed)
        tokens = [mint_token(SECRET, user, ttl_seconds=3600) for user in users]
        order = ["httpx", "aiohttp"]
        rounds = [
            await one_round(name, stack.api_base, tokens, args.requests, args.concurrency)
            for r in range(args.rounds)
            for name in (order if r % 2 == 0 else order[::-1])
        ]
    summary: dict[str, Any] = {"scenario": "ab_api_client", "requests": args.requests}
    for name in CLIENTS:
        mine = [r for r in rounds if r["client"] == name]
        summary[name] = {
            "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in mine),
            "requests_per_s": statistics.median(r["requests_per_s"] for r in mine),
        }
    summary["loadavg_1m"] = load_avg()
    write_result("ab_api_client", summary, {"rounds": rounds})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3, help="unread notifications per user")
    parser.add_argument("--concurrency", type=int, default=32, help="as API_CONCURRENCY")
    parser.add_argument("--rounds", type=int, default=3)
    uvloop.run(main(parser.parse_args()))

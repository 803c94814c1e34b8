"""API create throughput and commit->confirm latency, on SQLite and PostgreSQL, HTTP and commands.

Starts `qahub-notify api` as a child process per database (its own vhost and
database), POSTs a bounded number of notifications with bounded concurrency,
and reads the event log to time commit -> consume. Then, in the same run and
process, publishes as many `notification.create` commands (DESIGN §9, bare
aio-pika with confirms) and times them until their events are in the log. Prints one JSON line per
database (details in bench/results/); loopback only; every loop bounded in count and time.

    uv run python bench/api_throughput.py [--count 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from wire import PostPool

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.events import decode_event
from qahub_contracts.topology import (
    COMMAND_EXCHANGE,
    COMMAND_QUEUE,
    CREATE_COMMAND_KEY,
    EVENT_LOG_QUEUE,
)

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-that-is-long-enough-for-hs256"
MGMT = "http://127.0.0.1:15672/api"
DEADLINE_SECONDS = 300


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _post_all(base: str, count: int, concurrency: int) -> tuple[float, list[float]]:
    """POST ``count`` creates over ``concurrency`` raw keep-alive connections (wire.PostPool:
    no httpx on the hot path, so the client is not what is measured)."""
    token = mint_token(SECRET, "bench", scope=PUBLISH_SCOPE)
    port = int(base.rsplit(":", 1)[1])
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    async with PostPool(port, concurrency, {"Authorization": f"Bearer {token}"}) as pool:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = orjson.dumps(
                    {
                        "type": "bench",
                        "notifiableType": "user",
                        "notifiableId": f"u{i % 100}",
                        "data": {"i": i},
                    }
                )
                status, answer = await pool.post("/api/v1/notifications", body)
                if status != 201:
                    raise RuntimeError(f"POST answered {status}: {answer[:200]!r}")

        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), DEADLINE_SECONDS
        )
        elapsed = time.perf_counter() - started
    return elapsed, pool.latencies


async def _send_commands(amqp_url: str, count: int) -> None:
    """Publish ``count`` commands, persistent and confirmed, up to 500 unconfirmed at once."""
    token = mint_token(SECRET, "bench", scope=PUBLISH_SCOPE)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(COMMAND_EXCHANGE)

        async def send(i: int) -> None:
            command_id = str(uuid.uuid4())
            body = {
                "commandId": command_id,
                "schemaVersion": 1,
                "type": "bench",
                "notifiableType": "user",
                "notifiableId": f"u{i % 100}",
                "data": {"i": i},
            }
            message = aio_pika.Message(
                orjson.dumps(body),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=command_id,
                headers={"authorization": f"Bearer {token}"},
            )
            await exchange.publish(message, CREATE_COMMAND_KEY, mandatory=True)

        for start in range(0, count, 500):
            await asyncio.gather(*(send(i) for i in range(start, min(count, start + 500))))


async def _wait_consuming(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for _ in range(300):
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(COMMAND_QUEUE, passive=True)
                if queue.declaration_result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API does not consume commands")


async def _consume(amqp_url: str, count: int) -> list[float]:
    """Seconds from each event's createdAt (just before commit) to its arrival here."""
    lags: list[float] = []
    done = asyncio.Event()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            event = decode_event(message.body)
            created: datetime = event.notification.created_at  # type: ignore[union-attr]
            lags.append(time.time() - created.timestamp())
            await message.ack()
            if len(lags) >= count:
                done.set()

        await queue.consume(on_message, arguments={"x-stream-offset": "next"})
        await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
    return lags


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            try:
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("API did not become ready")


async def run(database: str, count: int, concurrency: int) -> dict[str, object]:
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(auth=("guest", "guest")) as mgmt:
        (await mgmt.put(f"{MGMT}/vhosts/{vhost}")).raise_for_status()
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        (await mgmt.put(f"{MGMT}/permissions/{vhost}/guest", json=perms)).raise_for_status()
    amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    tmp = Path(tempfile.mkdtemp(prefix="qahub-bench-"))
    dbname = f"bench_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    else:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        await admin.execute(f'CREATE DATABASE "{dbname}"')
        await admin.close()
        database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
    port = 18000 + os.getpid() % 1000
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": amqp_url,
        "JWT_SECRET": SECRET,
    }
    log = (tmp / "api.log").open("wb")
    api = subprocess.Popen(
        [sys.executable, "-m", "qahub_notify.cli", "api", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base)
        consumer = asyncio.create_task(_consume(amqp_url, count))
        await asyncio.sleep(0.5)  # let the consumer attach at the head of the log
        elapsed, latencies = await _post_all(base, count, concurrency)
        lags = await consumer
        cpu = _cpu_seconds(api.pid)
        await _wait_consuming(amqp_url)
        consumer = asyncio.create_task(_consume(amqp_url, count))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        await _send_commands(amqp_url, count)
        command_lags = await consumer
        command_elapsed = time.perf_counter() - started
        command_cpu = _cpu_seconds(api.pid)
    finally:
        api.terminate()
        api.wait(30)
        log.close()
        async with httpx.AsyncClient(auth=("guest", "guest")) as mgmt:
            await mgmt.delete(f"{MGMT}/vhosts/{vhost}")
        if database != "sqlite":
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await admin.close()
    return {
        "scenario": "api",
        "database": database,
        "count": count,
        "concurrency": concurrency,
        "creates_per_s": round(count / elapsed, 1),
        "request_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "request_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "commit_to_consume_p50_ms": round(statistics.median(lags) * 1000, 2),
        "commit_to_consume_p99_ms": round(_percentile(lags, 0.99) * 1000, 2),
        "api_cpu_s": cpu,
        "commands_per_s": round(count / command_elapsed, 1),
        "command_commit_to_consume_p50_ms": round(statistics.median(command_lags) * 1000, 2),
        "command_commit_to_consume_p99_ms": round(_percentile(command_lags, 0.99) * 1000, 2),
        "command_api_cpu_s": (
            round(command_cpu - cpu, 2) if command_cpu is not None and cpu is not None else None
        ),
    }


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return round((int(fields[11]) + int(fields[12])) / ticks, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for database in databases:
        result = asyncio.run(run(database, args.count, args.concurrency))
        write_result(f"api-{database}", {k: v for k, v in result.items() if k != "scenario"}, {})


if __name__ == "__main__":
    main()

"""A/B: the relay's hand-written stream reader against aio-pika, on the same log (ADR 0003).

Fills the event log of a private vhost with ``--events`` realistic events
(``NotificationCreated``, ``--users`` users, published through the exchange as
the API's outbox does), then reads the whole log from ``first`` with each
reader in turn, ``--rounds`` times, alternating the order (A B B A ...), in
this one process on uvloop:

- ``hand_written``: ``stream_relay.amqp_stream.StreamSubscription`` (what the
  relay runs), acks batched with ``stream_relay.consumer.BatchedAcks``;
- ``aio_pika``: ``queue.consume`` with a callback, the same prefetch and the
  same batched ``ack(multiple=True)``.

Both do the relay's per-message work while catching up, and only that: the
lazy read of the body (``IndexedEvent.from_body``: user, eventId, occurredAt;
no pydantic validation). Per read: events/s (wall), this process's CPU per
event (``time.process_time``) and the broker's (``/proc/<pid>/stat`` of
the node on port 5672, shared with whatever else runs). Every read is bounded by
``--timeout``; the vhost is deleted at the end.

    uv run python bench/ab_stream_reader.py [--events 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aio_pika
import uvloop
from common import create_vhost, delete_vhost, load_avg, proc_cpu, write_result
from loadgen import progress
from replay import fill_log

from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE
from stream_relay.amqp_frames import Delivery
from stream_relay.amqp_stream import StreamSubscription
from stream_relay.consumer import BatchedAcks
from stream_relay.indexed_event import IndexedEvent

BROKER = "amqp://guest:guest@127.0.0.1:5672/"

Reader = Callable[[str, int, int, float], Awaitable[int]]


async def hand_written(url: str, last: int, prefetch: int, timeout: float) -> int:
    """Read the log to offset ``last`` with the relay's reader; returns events read."""
    done = asyncio.get_running_loop().create_future()
    acks = BatchedAcks(every=max(1, prefetch // 4))
    read = 0

    def on_delivery(delivery: Delivery) -> None:
        nonlocal read
        offset = delivery.headers["x-stream-offset"]
        IndexedEvent.from_body(offset, delivery.body)
        read += 1
        acks.note(delivery.delivery_tag)
        if offset >= last and not done.done():
            done.set_result(None)

    subscription = await StreamSubscription.open(
        url,
        EVENT_LOG_QUEUE,
        prefetch=prefetch,
        arguments={"x-stream-offset": "first"},
        on_delivery=on_delivery,
        connection_name="ab-hand-written",
    )
    acks.send = subscription.ack
    try:
        async with asyncio.timeout(timeout):
            while not (done.done() or subscription.lost.done()):
                acks.flush()  # as the consumer's tick does: deliveries may all precede `send`
                await asyncio.wait([done, subscription.lost], timeout=0.1)
        if subscription.lost.done():
            subscription.lost.result()  # raises SubscriptionLost, a ConnectionError
    finally:
        await subscription.close()
    return read


async def with_aio_pika(url: str, last: int, prefetch: int, timeout: float) -> int:
    """Read the log to offset ``last`` with aio-pika; returns events read."""
    done = asyncio.get_running_loop().create_future()
    every = max(1, prefetch // 4)
    read = 0
    connection = await aio_pika.connect(url, client_properties={"connection_name": "ab-aio-pika"})
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=False)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal read
            offset = cast("int", message.headers["x-stream-offset"])
            IndexedEvent.from_body(offset, message.body)
            read += 1
            if read % every == 0 or offset >= last:
                await message.ack(multiple=True)
            if offset >= last and not done.done():
                done.set_result(None)

        def lost(_: object, exc: BaseException | None = None) -> None:
            if not done.done():
                done.set_exception(ConnectionError(f"connection lost: {exc}"))

        connection.close_callbacks.add(lost)
        await queue.consume(on_message, arguments={"x-stream-offset": "first"})
        await asyncio.wait_for(done, timeout)
    finally:
        await connection.close()
    return read


def broker_pid() -> int | None:
    """The process listening on the broker's port (other RabbitMQ nodes may run beside it)."""
    found = subprocess.run(
        ["ss", "-Hltnp", "sport = :5672"], capture_output=True, text=True, check=False
    )
    match = re.search(r"pid=(\d+)", found.stdout)
    return int(match.group(1)) if match else None


async def measure(name: str, reader: Reader, args: argparse.Namespace, url: str) -> dict[str, Any]:
    beam = broker_pid()
    beam_before = proc_cpu(beam) if beam else 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        read = await reader(url, args.events - 1, args.prefetch, args.timeout)
    except (ConnectionError, TimeoutError) as exc:  # e.g. the shared broker restarted
        progress(f"{name}: read failed ({exc!r}); once more")
        beam_before = proc_cpu(beam) if beam else 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        read = await reader(url, args.events - 1, args.prefetch, args.timeout)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    beam_s = (proc_cpu(beam) - beam_before) if beam else float("nan")
    result = {
        "reader": name,
        "events": read,
        "events_per_s": round(read / wall),
        "client_cpu_us_per_event": round(cpu / read * 1e6, 1),
        "broker_cpu_us_per_event": round(beam_s / read * 1e6, 1),
        "wall_s": round(wall, 2),
    }
    progress(f"{name}: {result}")
    return result


async def run(args: argparse.Namespace) -> None:
    vhost = f"ab-reader-{uuid.uuid4().hex[:8]}"
    url = f"{BROKER}{vhost}"
    await create_vhost(vhost)
    try:
        connection = await aio_pika.connect(url)
        async with connection:
            await declare_topology(connection, "24h")
        fill_s = await fill_log(url, args.events, args.users, args.fill_window)
        progress(f"log: {args.events} events in {fill_s:.1f}s")
        readers: dict[str, Reader] = {"hand_written": hand_written, "aio_pika": with_aio_pika}
        order = ["hand_written", "aio_pika"]
        runs = []
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else order[::-1]:
                runs.append(await measure(name, readers[name], args, url))  # noqa: PERF401 - one at a time
    finally:
        await delete_vhost(vhost)
    summary: dict[str, Any] = {"events": args.events, "prefetch": args.prefetch}
    for name in readers:
        mine = [r for r in runs if r["reader"] == name]
        summary[name] = {
            key: statistics.median(r[key] for r in mine)
            for key in (
                "events_per_s",
                "client_cpu_us_per_event",
                "broker_cpu_us_per_event",
                "wall_s",
            )
        }
    summary["loadavg_1m"] = load_avg()
    write_result("ab_stream_reader", summary, {"runs": runs})  # prints the one line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=200, help="CONSUMER_PREFETCH (default)")
    parser.add_argument("--fill-window", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per read, at most")
    args = parser.parse_args()
    if not 1 <= args.events <= 2_000_000:
        parser.error("--events must be between 1 and 2,000,000")
    uvloop.run(run(args))


if __name__ == "__main__":
    main()

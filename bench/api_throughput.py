"""API create throughput and commit->confirm latency, on SQLite and PostgreSQL, HTTP and commands.

Starts `qahub-notify api` as a child process per database (its own vhost and
database; common.Stack), POSTs a bounded number of notifications with bounded
concurrency to 100 recipients in turn, and reads the event log to time commit ->
consume. Then, in the same API process, publishes as many `notification.create`
commands (DESIGN §9, bare aio-pika with confirms) and times them until their
events are in the log (create_doors.py). Prints one JSON line per database
(details in bench/results/); loopback only; every loop bounded in count and time.

``--before PATH`` runs the API of another checkout (its ``.venv``, made with
``uv sync --frozen``) too, in the same invocation: per database, ``--rounds``
pairs alternating before, after, before, after…, then both figures side by side.
A fresh API each time, so each run includes its cold start (the first create of
every recipient) as the bench always did.

    uv run python bench/api_throughput.py [--count 3000] [--concurrency 32]
    uv run python bench/api_throughput.py --count 4000 --before ../before --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from common import QAHUB, SECRET, Stack, load_avg, percentile, proc_cpu, write_result
from create_doors import consume_log, post_all, send_commands, wait_consuming

#: The figures printed side by side with ``--before``.
COMPARED = ("creates_per_s", "create_cpu_us", "commands_per_s")


async def run(qahub: Path, database: str, count: int, concurrency: int) -> dict[str, Any]:
    """Both doors of one fresh API of ``qahub``'s checkout, over a fresh ``database``."""
    async with Stack(f"api-{database}", database=database, relay=False, qahub=qahub) as stack:
        assert stack.api is not None  # noqa: S101 - started by the Stack
        consumer = asyncio.create_task(consume_log(stack.amqp_url, count))
        await asyncio.sleep(0.5)  # let the consumer attach at the head of the log
        cpu_at_start = proc_cpu(stack.api.pid)
        elapsed, latencies = await post_all(stack.api_port, SECRET, count, concurrency)
        lags = await consumer
        cpu = proc_cpu(stack.api.pid)
        await wait_consuming(stack.amqp_url)
        consumer = asyncio.create_task(consume_log(stack.amqp_url, count))
        await asyncio.sleep(0.5)
        started = asyncio.get_running_loop().time()
        await send_commands(stack.amqp_url, SECRET, count)
        command_lags = await consumer
        command_elapsed = asyncio.get_running_loop().time() - started
        command_cpu = proc_cpu(stack.api.pid)
    latencies.sort()
    lags.sort()
    command_lags.sort()
    return {
        "creates_per_s": round(count / elapsed, 1),
        "request_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "request_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "commit_to_consume_p50_ms": round(statistics.median(lags) * 1000, 2),
        "commit_to_consume_p99_ms": round(percentile(lags, 0.99) * 1000, 2),
        "api_cpu_s": round(cpu, 2),  # since the API started, its start-up included
        "create_cpu_us": round((cpu - cpu_at_start) / count * 1e6),  # API CPU a POST, start-up not
        "commands_per_s": round(count / command_elapsed, 1),
        "command_commit_to_consume_p50_ms": round(statistics.median(command_lags) * 1000, 2),
        "command_commit_to_consume_p99_ms": round(percentile(command_lags, 0.99) * 1000, 2),
        "command_api_cpu_s": round(command_cpu - cpu, 2),
    }


async def compare(
    database: str, before: Path, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """``args.rounds`` runs of each build on ``database``, alternating, before first."""
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for build, qahub in (("before", before / ".venv/bin/qahub-notify"), ("after", QAHUB)):
            runs[build].append(await run(qahub, database, args.count, args.concurrency))
    return runs


def side_by_side(database: str, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One line per compared figure: each run of before, each of after, and the medians."""
    lines = []
    for figure in COMPARED:
        cells = {build: [r[figure] for r in build_runs] for build, build_runs in runs.items()}
        shown = {b: " / ".join(f"{v:,.0f}" for v in values) for b, values in cells.items()}
        medians = {b: statistics.median(values) for b, values in cells.items()}
        change = 100 * (medians["after"] / medians["before"] - 1)
        lines.append(
            f"{database:<10} {figure:<15} before {shown['before']:<22} after {shown['after']:<22}"
            f" median {medians['before']:,.0f} -> {medians['after']:,.0f} ({change:+.1f} %)"
        )
    return lines


async def main_async(args: argparse.Namespace) -> None:
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if args.before is None:
        for database in databases:
            result = await run(QAHUB, database, args.count, args.concurrency)
            summary = {"database": database, "count": args.count, "concurrency": args.concurrency}
            write_result(f"api-{database}", summary | result, {})
        return
    table = []
    for database in databases:
        load = round(load_avg(), 2)
        runs = await compare(database, args.before.resolve(), args)
        summary = {"database": database, "count": args.count, "concurrency": args.concurrency}
        details = {"before_checkout": str(args.before.resolve()), "loadavg_1m_at_start": load}
        write_result(f"api-{database}-before-after", summary | runs, details)
        table += side_by_side(database, runs)
    print("\n".join(table), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--before", type=Path, default=None, help="another checkout, run too")
    parser.add_argument("--rounds", type=int, default=2, help="with --before: pairs per database")
    args = parser.parse_args()
    if args.rounds < 1 or args.count < 1:
        parser.error("--count and --rounds must be at least 1")
    if args.before is not None and not (args.before / ".venv/bin/qahub-notify").exists():
        parser.error(f"{args.before}/.venv/bin/qahub-notify is missing: uv sync --frozen there")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

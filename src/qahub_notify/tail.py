"""``qahub-notify tail --user USER``: a terminal subscriber to one user's stream.

Reads ``GET /api/v1/notifications/stream`` from the relay (``--relay``, default
``http://127.0.0.1:8001``) through the Python client's ``events()`` and prints
one line per event: ``<event> <id or -> <data>``. When the stream ends or the
relay is unreachable it reconnects with ``Last-Event-ID`` (so nothing is missed),
waiting the server's ``retry:`` interval, doubled after each failure up to 30 s,
and says so on stderr. Without ``--token`` each connect carries a fresh token
minted from ``JWT_SECRET`` (a stream ends when its token expires); a 401, or any
4xx but 429, ends the command with exit code 1. Stops after ``--max-events``
events, ``--max-seconds`` seconds, or Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable

from qahub_notify.tokens import TokenUnavailable, mint_from_environment
from qahub_notify_client import AsyncNotificationsClient, QaHubError

Token = str | Callable[[], str]

__all__ = ["main"]

DEFAULT_RELAY_URL = "http://127.0.0.1:8001"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qahub-notify tail", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--user", help="user id to subscribe as (a token is minted)")
    parser.add_argument("--token", help="bearer token to use instead of minting one")
    parser.add_argument("--relay", default=DEFAULT_RELAY_URL, help="relay base URL")
    parser.add_argument("--last-event-id", help="start after this id (replays what came after)")
    parser.add_argument("--max-events", type=int, default=0, help="stop after N events (0: never)")
    parser.add_argument("--max-seconds", type=float, default=0, help="stop after S seconds")
    parser.add_argument(
        "--idle-timeout", type=float, default=90, help="reconnect after S silent seconds"
    )
    args = parser.parse_args(argv)
    if not args.user and not args.token:
        parser.error("pass --user (and set JWT_SECRET) or --token")
    return args


def main(argv: list[str] | None = None) -> int:
    """Print the user's events until a bound is reached; returns the exit code."""
    args = _arguments(argv)
    token: Token
    if args.token:
        token = args.token
    else:
        try:
            mint_from_environment(args.user)
        except TokenUnavailable as exc:
            print(f"config error: {exc} (or pass --token)", file=sys.stderr)
            return 2
        token = lambda: mint_from_environment(args.user)  # noqa: E731 - one per connect
    _say_reconnects_on_stderr()
    try:
        asyncio.run(_follow(args, token))
    except QaHubError as exc:
        print(f"error: the relay answered HTTP {exc.status}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _say_reconnects_on_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    stream_log = logging.getLogger("qahub_notify_client.stream")
    stream_log.addHandler(handler)
    stream_log.setLevel(logging.INFO)


async def _follow(args: argparse.Namespace, token: Token) -> None:
    printed = 0
    async with AsyncNotificationsClient(args.relay, token, stream_url=args.relay) as client:
        events = client.events(args.last_event_id, idle_timeout=args.idle_timeout)
        with contextlib.suppress(TimeoutError):
            async with contextlib.aclosing(events), asyncio.timeout(args.max_seconds or None):
                async for event in events:
                    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
                    print(f"{event.event} {event.id or '-'} {data}", flush=True)
                    printed += 1
                    if printed == args.max_events:
                        return

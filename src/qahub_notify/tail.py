"""``qahub-notify tail --user USER``: a terminal subscriber to one user's stream.

Reads ``GET /api/v1/notifications/stream`` from the relay (``--relay``, default
``http://127.0.0.1:8001``) and prints one line per event:
``<event> <id or -> <data>``. When the stream ends or the relay is unreachable
it reconnects with ``Last-Event-ID`` (so nothing is missed), waiting the
server's ``retry:`` interval, doubled after each failure up to 30 s. Without
``--token`` each connect carries a fresh token minted from ``JWT_SECRET`` (a
stream ends when its token expires); a 401, or any 4xx but 429, ends the
command with exit code 1. Stops after ``--max-events`` events,
``--max-seconds`` seconds, or Ctrl+C.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from qahub_notify.tokens import TokenUnavailable, mint_from_environment

__all__ = ["Event", "main", "parse_events"]

DEFAULT_RELAY_URL = "http://127.0.0.1:8001"
STREAM_PATH = "/api/v1/notifications/stream"
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Event:
    """One dispatched SSE event (WHATWG parsing)."""

    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class _State:
    """What survives a reconnect: the last id, the server's retry hint, counts."""

    token: str
    last_event_id: str | None = None
    retry_seconds: float = 1.0
    failures: int = 0
    printed: int = 0
    deadline: float = field(default=float("inf"))

    def set_retry(self, seconds: float) -> None:
        self.retry_seconds = seconds


class _Refused(Exception):
    """The relay answered a status that retrying will not fix."""


def parse_events(
    lines: Iterable[str], on_retry: Callable[[float], None] | None = None
) -> Iterator[Event]:
    """Events dispatched by SSE ``lines``; ``retry:`` fields go to ``on_retry`` (seconds)."""
    event, data, event_id = Event(), list[str](), None
    for line in lines:
        if not line:
            if data:
                yield Event(event.event, "\n".join(data), event_id)
            event, data, event_id = Event(), [], None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event.event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit() and on_retry is not None:
            on_retry(int(value) / 1000)


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
    try:
        token = args.token or mint_from_environment(args.user)
    except TokenUnavailable as exc:
        print(f"config error: {exc} (or pass --token)", file=sys.stderr)
        return 2
    state = _State(token=token, last_event_id=args.last_event_id)
    if args.max_seconds > 0:
        state.deadline = time.monotonic() + args.max_seconds
    try:
        _follow(args, state)
    except _Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _done(args: argparse.Namespace, state: _State) -> bool:
    limit_reached = args.max_events > 0 and state.printed >= args.max_events
    return limit_reached or time.monotonic() >= state.deadline


def _follow(args: argparse.Namespace, state: _State) -> None:
    url = args.relay.rstrip("/") + STREAM_PATH
    while not _done(args, state):
        try:
            _read_once(url, args, state)
        except (httpx.TransportError, httpx.StreamError) as exc:
            print(f"stream interrupted: {type(exc).__name__}", file=sys.stderr)
        if _done(args, state):
            return
        state.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, state.retry_seconds * 2 ** min(state.failures - 1, 5))
        delay = min(delay, max(0.0, state.deadline - time.monotonic()))
        since = f" after {state.last_event_id}" if state.last_event_id else ""
        print(f"reconnecting in {delay:.1f} s{since}", file=sys.stderr, flush=True)
        time.sleep(delay)


def _read_once(url: str, args: argparse.Namespace, state: _State) -> None:
    if not args.token:
        state.token = mint_from_environment(args.user)
    headers = {"Authorization": f"Bearer {state.token}", "Accept": "text/event-stream"}
    if state.last_event_id:
        headers["Last-Event-ID"] = state.last_event_id
    remaining = state.deadline - time.monotonic()
    timeout = httpx.Timeout(10, read=max(0.1, min(args.idle_timeout, remaining)))
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code != 200:
            _refused(response)
            return
        for event in parse_events(response.iter_lines(), state.set_retry):
            if event.id:
                state.last_event_id = event.id
            if event.event == "connected":
                state.failures = 0
            print(f"{event.event} {event.id or '-'} {event.data}", flush=True)
            state.printed += 1
            if _done(args, state):
                return


def _refused(response: httpx.Response) -> None:
    status = response.status_code
    if 400 <= status < 500 and status != 429:
        response.read()
        raise _Refused(f"the relay answered HTTP {status}: {response.text[:200]}")
    print(f"the relay answered HTTP {status}", file=sys.stderr)

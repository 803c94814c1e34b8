"""An async subscriber to one user's notifications that never misses one.

    export JWT_SECRET=...
    python examples/subscriber.py 42 --relay http://127.0.0.1:8001

It reads the SSE stream, remembers the last event id, and when the stream ends
(relay restart, token expiry, network) reconnects with a fresh token and
``Last-Event-ID``: the relay replays exactly what was missed. If the id can no
longer be recovered, ``connected.recovered`` is false and the first frames are
``stats`` + ``recent`` instead: refetch your state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

STREAM = "/api/v1/notifications/stream"


@dataclass(frozen=True)
class Event:
    event: str
    data: Any
    id: str | None


def user_token(user: str, ttl: int = 3600) -> str:
    """A user's token (normally your identity provider's)."""
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str | None, str]]:
    """``(event, id, data)`` for each frame dispatched by SSE ``lines`` (comments skipped)."""
    name, event_id, data = "message", None, list[str]()
    async for line in lines:
        if not line:
            if data:
                yield name, event_id, "\n".join(data)
            name, event_id, data = "message", None, list[str]()
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


async def subscribe(
    relay_url: str,
    token: Callable[[], str],
    *,
    last_event_id: str | None = None,
    backoff: float = 1.0,
) -> AsyncIterator[Event]:
    """Every event of the token's user, across reconnects (break out of the loop to stop)."""
    failures = 0
    timeout = httpx.Timeout(10, read=90)  # a heartbeat arrives every 30 s by default
    async with httpx.AsyncClient(base_url=relay_url, timeout=timeout) as http:
        while True:
            headers = {"Authorization": f"Bearer {token()}"}  # a fresh token per connect
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                async with http.stream("GET", STREAM, headers=headers) as response:
                    if response.status_code == 200:
                        async for name, event_id, data in sse_events(response.aiter_lines()):
                            last_event_id = event_id or last_event_id
                            failures = 0 if name == "connected" else failures
                            yield Event(name, json.loads(data), event_id)
            except httpx.TransportError:
                pass  # the relay went away: reconnect below
            failures += 1
            await asyncio.sleep(min(30.0, backoff * 2 ** min(failures - 1, 5)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("user")
    parser.add_argument("--relay", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    async for event in subscribe(args.relay, lambda: user_token(args.user)):
        print(event.event, event.id or "-", json.dumps(event.data))


if __name__ == "__main__":
    asyncio.run(main())

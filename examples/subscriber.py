"""An async subscriber to one user's notifications that never misses one.

    export JWT_SECRET=...
    python examples/subscriber.py 42 --relay http://127.0.0.1:8001

Built on the Python client's ``events()``: when the stream ends (relay restart,
token expiry, network) it reconnects with a fresh token from the callable and
``Last-Event-ID``, and the relay replays exactly what was missed. If the id can
no longer be recovered, ``connected.recovered`` is false and the first events
are ``stats`` + ``recent`` instead: refetch your state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import AsyncGenerator, Callable

import jwt

from qahub_notify_client import AsyncNotificationsClient, StreamEvent


def user_token(user: str, ttl: int = 3600) -> str:
    """A user's token (normally your identity provider's)."""
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


async def subscribe(
    relay_url: str, token: Callable[[], str], *, last_event_id: str | None = None
) -> AsyncGenerator[StreamEvent, None]:
    """Every event of the token's user, across reconnects (``aclose()`` it to stop)."""
    async with AsyncNotificationsClient(relay_url, token, stream_url=relay_url) as client:
        async for event in client.events(last_event_id):
            yield event


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("user")
    parser.add_argument("--relay", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    async for event in subscribe(args.relay, lambda: user_token(args.user)):
        print(event.event, event.id or "-", json.dumps(event.data))


if __name__ == "__main__":
    asyncio.run(main())

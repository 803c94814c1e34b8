"""A subscriber that behaves like a browser tab: reconnects with Last-Event-ID, forever."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from qahub_notify_client import AsyncNotificationsClient, QaHubError, StreamEvent


class Subscriber:
    """Reads ``user``'s stream from one of ``relays``; records notification ids in order.

    On any end or error it reconnects (to ``choose(relays)``) with the last id
    it saw, like EventSource. ``hop_every`` makes it drop the stream on purpose
    after that many seconds (clients hopping between relays).
    """

    def __init__(
        self,
        user: str,
        token: Callable[[], str],
        relays: list[str],
        *,
        choose: Callable[[list[str]], str] = random.choice,
        hop_every: float | None = None,
    ) -> None:
        self.user = user
        self.token = token
        self.relays = relays
        self.choose = choose
        self.hop_every = hop_every
        self.received: list[str] = []
        self.last_id: str | None = None
        self.connects = 0
        self.recovered: list[bool] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(QaHubError, KeyError, TypeError):
                await self._once(self.choose(self.relays))
            await asyncio.sleep(random.uniform(0.02, 0.1))

    async def _once(self, relay: str) -> None:
        """One connection through the Python client (``reconnect=False``: the relay is ours
        to choose; a fresh client per connection, so duplicates across reconnects stay
        visible to the checker)."""
        connected_at = time.monotonic()
        async with AsyncNotificationsClient(relay, self.token, timeout=5) as client:
            events = client.events(self.last_id, reconnect=False, idle_timeout=30)
            try:
                async for event in events:
                    self._record(event, events.last_event_id)
                    if self.hop_every and time.monotonic() - connected_at > self.hop_every:
                        return
            finally:
                self.last_id = events.last_event_id
                await events.aclose()

    def _record(self, event: StreamEvent, last_id: str | None) -> None:
        self.last_id = last_id  # id-only frames advance it too, as in a browser
        if event.event == "connected":
            self.connects += 1
            self.recovered.append(event.data["recovered"])
        elif event.event == "notification":
            self.received.append(event.data["id"])
        elif event.event == "recent" and self.last_id is None and not self.received:
            # First connect, nothing to resume from: a notification created
            # while the relay fetched the snapshot is listed here and, by
            # design, not sent again live. Later `recent` frames never count.
            listed = event.data["notifications"]
            self.received.extend(n["id"] for n in reversed(listed))

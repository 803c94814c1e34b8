"""A subscriber that behaves like a browser tab: reconnects with Last-Event-ID, forever."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable

import httpx

from tests.support.sse_client import parse_frames

_TIMEOUT = httpx.Timeout(5, read=30)


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
        async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
            while not self._stop.is_set():
                with contextlib.suppress(
                    httpx.HTTPError, OSError, TimeoutError, json.JSONDecodeError
                ):
                    await self._once(http, self.choose(self.relays))
                await asyncio.sleep(random.uniform(0.02, 0.1))

    async def _once(self, http: httpx.AsyncClient, relay: str) -> None:
        headers = {"Authorization": f"Bearer {self.token()}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        connected_at = time.monotonic()
        async with http.stream(
            "GET", f"{relay}/api/v1/notifications/stream", headers=headers
        ) as response:
            if response.status_code != 200:
                return
            self.connects += 1
            buffer = ""
            async for text in response.aiter_text():
                frames, buffer = parse_frames(buffer + text)
                for frame in frames:
                    if frame.id:
                        self.last_id = frame.id
                    if frame.event == "connected":
                        self.recovered.append(json.loads(frame.data)["recovered"])
                    elif frame.event == "notification":
                        self.received.append(json.loads(frame.data)["id"])
                    elif frame.event == "recent" and self.last_id is None and not self.received:
                        # First connect, nothing to resume from: a notification created
                        # while the relay fetched the snapshot is listed here and, by
                        # design, not sent again live. Later `recent` frames never count.
                        listed = json.loads(frame.data)["notifications"]
                        self.received.extend(n["id"] for n in reversed(listed))
                if self.hop_every and time.monotonic() - connected_at > self.hop_every:
                    return

"""One timer beats the heartbeat of every live stream (instead of one timer per stream).

A stream whose frames the fan-out writes directly
(:class:`~stream_relay.sse_response.TransportWriter`) registers here while it is
live. Every ``tick`` (a quarter of the interval, at most 1 s) the timer asks each
one to write ``: heartbeat`` if nothing was written to it for the interval: an
idle stream costs a check per tick and a write per interval, and its coroutine
sleeps until its token expires or an event has to be queued. A heartbeat may
come up to one tick late. Streams without a direct writer keep their own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

__all__ = ["Beating", "Heartbeats"]

log = logging.getLogger("stream_relay.heartbeat")


class Beating(Protocol):
    def beat(self, now: float) -> None:
        """Write a heartbeat if one is due at ``now`` (``time.monotonic()``)."""


class Heartbeats:
    """The relay's one heartbeat timer; :meth:`start` it, :meth:`stop` it."""

    def __init__(self, interval: float) -> None:
        self.tick = min(1.0, interval / 4)  # streams compare against the interval themselves
        self._streams: set[Beating] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, stream: Beating) -> None:
        self._streams.add(stream)

    def discard(self, stream: Beating) -> None:
        self._streams.discard(stream)

    def __len__(self) -> int:
        return len(self._streams)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-relay-heartbeats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for stream in list(self._streams):
                try:
                    stream.beat(now)
                except Exception:  # one broken stream must not stop everyone's heartbeat
                    log.exception("heartbeat failed; dropping the stream from the timer")
                    self._streams.discard(stream)

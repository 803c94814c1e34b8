"""A function called on the event loop every interval, until stopped.

What the relay's periodic work shares (:class:`~stream_relay.sse_response.Heartbeats`,
:class:`~stream_relay.overload.LoopLag`): one task, started inside the running
loop, cancelled and awaited by :meth:`Ticker.stop`. ``on_tick`` gets
``time.monotonic()`` of the moment it runs; it runs synchronously, so it must
be short, and an exception from it ends the ticker (callers guard their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

__all__ = ["Ticker"]


class Ticker:
    """Calls ``on_tick(now)`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(self, interval: float, on_tick: Callable[[float], None], *, name: str) -> None:
        self.interval = interval
        self._on_tick = on_tick
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Started, not stopped, and its task alive (a tick that raised ended it)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._on_tick(time.monotonic())

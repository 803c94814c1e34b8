"""When the relay sheds new streams: its event loop runs late (DESIGN §6 "Reconnect storms").

Every stream, probe and live event of a relay runs on one event loop, so how
late that loop runs is how late everything answers. :class:`LoopLag` ticks
every :data:`TICK_SECONDS` and notes how late each tick ran; the relay is
*overloaded* while the latest tick ran more than ``threshold`` late, or the
next one is already that overdue (the loop is stuck right now).

Guarantees:
- an overloaded relay answers a new stream 503 ``overloaded`` with a
  ``Retry-After`` drawn from 1 to :data:`MAX_RETRY_AFTER` seconds, before
  authenticating it or asking the API anything: a refused stream costs the
  least the relay can spend on it, and the refused clients come back spread
  out, not as one wave;
- open streams, ``/readyz``, ``/healthz`` and the connection counts are never
  refused for it: shedding exists to keep them answering;
- shedding ends at the first tick that runs on time again;
- ``threshold`` 0 (``SHED_LAG_SECONDS=0``) never sheds.
"""

from __future__ import annotations

import random
import time
from typing import Final

from stream_relay.ticker import Ticker

__all__ = ["MAX_RETRY_AFTER", "TICK_SECONDS", "LoopLag"]

TICK_SECONDS: Final = 0.1
MAX_RETRY_AFTER: Final = 5


class LoopLag:
    """How late the event loop runs; :meth:`start` it inside the loop, :meth:`stop` it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.lag = 0.0  # how late the latest tick ran, in seconds
        self._due = time.monotonic() + TICK_SECONDS
        self._ticker = Ticker(TICK_SECONDS, self._tick, name="stream-relay-loop-lag")

    def start(self) -> None:
        if self.threshold > 0:
            self._due = time.monotonic() + TICK_SECONDS
            self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    def overloaded(self) -> bool:
        """Whether a new stream should be refused now."""
        if not self._ticker.running:
            return False
        return max(self.lag, time.monotonic() - self._due) > self.threshold

    @staticmethod
    def retry_after() -> int:
        """Seconds a refused client should wait: spread, so they do not return at once."""
        return random.randint(1, MAX_RETRY_AFTER)  # noqa: S311 - not a secret

    def _tick(self, now: float) -> None:
        self.lag = max(0.0, now - self._due)
        self._due = now + TICK_SECONDS

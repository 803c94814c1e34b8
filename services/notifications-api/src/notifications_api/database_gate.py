"""Pausing work that needs the database while the database does not answer.

A command whose create fails because the database is unavailable must not be
dead-lettered (it can succeed later) nor returned to the queue in a loop.
Instead its handler waits at the :class:`DatabaseGate`: the first such failure
closes the gate, one probe task tries the database every ``interval``, and the
gate opens when a probe succeeds; every waiting handler then retries. With a
bounded prefetch no further command is delivered meanwhile: consumption is
paused, and resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from sqlalchemy.exc import DBAPIError, IntegrityError

__all__ = ["UNAVAILABLE_ERRORS", "DatabaseGate", "is_unavailable"]

log = logging.getLogger("notifications_api.commands")

UNAVAILABLE_ERRORS: Final = (DBAPIError, OSError, TimeoutError)
"""What a database that does not answer (or refuses writes for now) raises."""


def is_unavailable(error: BaseException) -> bool:
    """True for an outage, false for a constraint (a conflict is an answer, not an outage)."""
    return isinstance(error, UNAVAILABLE_ERRORS) and not isinstance(error, IntegrityError)


class DatabaseGate:
    """Open while the database answers; closed (and probing) from the first outage on."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        paused: Callable[[int], None],
        interval: float = 0.5,
    ) -> None:
        self._probe = probe
        self._paused = paused  # 1 while closed, 0 when open again (a gauge's set)
        self._interval = interval
        self._open = asyncio.Event()
        self._open.set()
        self._prober: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def passed(self) -> None:
        """Return once the database answers (at once while the gate is open)."""
        await self._open.wait()

    async def answers(self) -> bool:
        """Whether the database answers a probe now (to tell an outage from a bad command)."""
        try:
            await self._probe()
        except UNAVAILABLE_ERRORS:
            return False
        return True

    def close(self, error: BaseException) -> None:
        """The database failed: pause until a probe succeeds (one probe task at a time)."""
        if not self._open.is_set():
            return
        self._open.clear()
        log.warning("database unavailable (%s); command consumption paused", type(error).__name__)
        self._paused(1)
        self._prober = asyncio.create_task(self._probe_until_open(), name="database-gate")

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    async def _probe_until_open(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._probe()
            except UNAVAILABLE_ERRORS:
                continue
            log.info("database answers again; command consumption resumed")
            self._paused(0)
            self._open.set()
            return

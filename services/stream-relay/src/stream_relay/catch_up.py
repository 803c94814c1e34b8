"""Whether the index holds the log up to its end, and waiting for an offset.

A fresh relay reads the retained log before it serves: ``/readyz`` is 503 and
a new stream waits (bounded) until :attr:`CatchUp.caught_up` is set, so it
never gets a partial index, nor history replayed as "live". The queue's
message count is no measure of the end (RabbitMQ 3.10 refreshes it for a
stream only every few seconds), so the consumer probes the end before it
subscribes (:meth:`CatchUp.expect_head`).

Guarantees: caught up once the processed offset reaches that head, or an
event younger than :data:`RECENT_SECONDS` is read (under steady traffic the log
never pauses), or deliveries pause for ``idle_empty`` seconds when the head is
unknown (an empty log) or ``idle_give_up`` seconds short of it. Cleared again by
:meth:`CatchUp.reset` (a gap: the log is read from ``first``).
:meth:`CatchUp.reach` waits on the offsets processed, not on a poll.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable
from typing import Final

__all__ = ["RECENT_SECONDS", "CatchUp"]

log = logging.getLogger("stream_relay.consumer")

RECENT_SECONDS: Final = 1.0  # an event this fresh means the consumer is at the log's head


class CatchUp:
    """The consumer's progress through the log (see the module docstring)."""

    def __init__(self, *, idle_empty: float = 0.3, idle_give_up: float = 3.0) -> None:
        self.caught_up = asyncio.Event()
        self._idle_empty = idle_empty
        self._idle_give_up = idle_give_up
        self._head: int | None = None  # the log's last offset when subscribing
        self._processed = -1
        self._following = False
        self._waiters: list[tuple[int, int, asyncio.Future[bool]]] = []  # by offset
        self._wanted = 0  # the lowest offset waited for (valid while there are waiters)

    def expect_head(self, end: int | None) -> None:
        """The log ends at ``end`` now (``None``: empty, or the probe got no answer)."""
        if end is not None and not self.caught_up.is_set():
            self._head = end

    def following(self, *, subscribed: bool) -> None:
        """The consumer (un)subscribed; unsubscribed, every :meth:`reach` returns."""
        self._following = subscribed
        if not subscribed:
            self._wake(lambda _: True)

    def processed(self, offset: int) -> None:
        """The message at ``offset`` is processed (called for every message, in order)."""
        self._processed = offset
        if self._head is not None and offset >= self._head and not self.caught_up.is_set():
            self._set(f"at offset {offset} (its head when subscribing)")
        if self._waiters and offset >= self._wanted:
            self._wake(lambda wanted: wanted <= offset)

    def event_age(self, seconds: float) -> None:
        """The age of the event just read: a fresh one means the log's head is here."""
        if seconds < RECENT_SECONDS and not self.caught_up.is_set():
            self._set(f"at offset {self._processed} (live events)")

    def idle(self, seconds: float) -> None:
        """No delivery for ``seconds`` (the consumer's tick)."""
        wait = self._idle_empty if self._head is None else self._idle_give_up
        if seconds >= wait and not self.caught_up.is_set():
            self._set(f"at offset {self._processed} (idle)")

    def reset(self) -> None:
        """A gap: the log is read again from ``first``."""
        self._head = None
        self._processed = -1
        self.caught_up.clear()

    async def reach(self, offset: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the message at ``offset`` is processed.

        ``False`` on timeout or when the consumer is not subscribed. A client
        reconnecting from another relay may carry an id a little ahead of this
        one; waiting briefly turns that into a replay instead of a needless
        ``recovered: false``.
        """
        if self._processed >= offset or not self._following:
            return self._processed >= offset
        waiter = asyncio.get_running_loop().create_future()
        entry = (offset, id(waiter), waiter)
        bisect.insort(self._waiters, entry)
        self._wanted = self._waiters[0][0]
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
            self._wanted = self._waiters[0][0] if self._waiters else 0
        return self._processed >= offset

    def _wake(self, due: Callable[[int], bool]) -> None:
        keep = []
        for entry in self._waiters:
            if due(entry[0]):
                if not entry[2].done():
                    entry[2].set_result(True)
            else:
                keep.append(entry)
        self._waiters = keep
        self._wanted = keep[0][0] if keep else 0

    def _set(self, how: str) -> None:
        log.info("event log caught up %s", how)
        self.caught_up.set()

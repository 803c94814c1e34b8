"""Per-user registry of live SSE connections and the slow-client policy.

Guarantees:
- an event is encoded once (its :class:`~stream_relay.replay.IndexedEvent`
  frames) and handed to every connection of its user, never to another user's;
- a connection's queue is bounded: when it would overflow, the connection is
  closed (reason ``slow``) instead of growing memory or blocking the consumer;
- a connection whose writer has attached a *sink* (a live stream whose socket
  takes writes now) gets each event handed to the sink synchronously, without
  waking its writer; whenever something is queued, or the sink declines, events
  are queued and the writer delivers them in order;
- at most ``max_per_user`` connections per user; the next is refused with
  :class:`TooManyStreams`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from stream_relay.indexed_event import IndexedEvent

__all__ = ["Connection", "ConnectionRegistry", "Sink", "TooManyStreams"]

log = logging.getLogger("stream_relay.fanout")


class TooManyStreams(Exception):
    """The user already has the maximum number of open streams."""


Sink = Callable[[IndexedEvent], bool]
"""Writes one event to the client now; ``False`` when it cannot (the event is queued)."""


class Connection:
    """One open stream: a bounded queue of events for its one writer task.

    Kept small (an idle stream costs one of these): a list for the queue, which
    :meth:`drain` swaps out whole, and at most one pending future while the
    writer waits, set by :meth:`offer` or :meth:`close` or a timer.
    """

    __slots__ = (
        "_loop",
        "_max_queued",
        "_queue",
        "_sink",
        "_waiter",
        "client_id",
        "closed_reason",
        "on_close",
        "user_id",
    )

    def __init__(self, user_id: str, max_queued: int) -> None:
        self.client_id = str(uuid.uuid4())
        self.user_id = user_id
        self._max_queued = max_queued
        self._queue: list[IndexedEvent] = []
        self._waiter: asyncio.Future[bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Sink | None = None
        self.closed_reason: str | None = None
        self.on_close: Callable[[str], None] | None = None  # told the reason, once

    def attach(self, sink: Sink | None) -> None:
        """Hand later events to ``sink`` while nothing is queued (``None``: always queue)."""
        self._sink = sink

    def offer(self, entry: IndexedEvent) -> bool:
        """Write ``entry`` through the sink, or queue it; ``False`` (and the connection
        closes as ``slow``) when the queue would overflow."""
        if self.closed_reason is not None:
            return False
        if self._sink is not None and not self._queue:
            try:
                if self._sink(entry):
                    return True
            except Exception:  # a bug in one stream must not cost the others the event
                log.exception(
                    "direct write failed; client %s is served by its writer", self.client_id
                )
                self._sink = None
        if len(self._queue) >= self._max_queued:
            self.close("slow")
            return False
        self._queue.append(entry)
        self._wake()
        return True

    def close(self, reason: str) -> None:
        """Ask the writer to end the stream; the first reason wins (and goes to ``on_close``)."""
        if self.closed_reason is None:
            self.closed_reason = reason
            if self.on_close is not None:
                self.on_close(reason)
        self._wake()

    def drain(self) -> list[IndexedEvent]:
        """Take every queued event, oldest first."""
        items, self._queue = self._queue, []
        return items

    async def wait(self, timeout: float) -> bool:
        """Return when an event is queued, the connection closes, or ``timeout`` passes.

        Returns ``True`` when it returned because ``timeout`` passed.
        """
        if self._queue or self.closed_reason is not None:
            return False
        # A future and a timer rather than asyncio.wait_for: no task per wake-up. The loop
        # is looked up once (on Python 3.11 each lookup is a getpid() system call).
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, self._time_out)
        try:
            timed_out: bool = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        return timed_out

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(False)

    def _time_out(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)


class ConnectionRegistry:
    """Every live connection of this relay, by user."""

    def __init__(
        self, *, max_per_user: int, max_queued: int, on_slow: Callable[[], None] | None = None
    ) -> None:
        self._max_per_user = max_per_user
        self._max_queued = max_queued
        self._on_slow = on_slow
        self._by_user: dict[str, dict[str, Connection]] = {}
        self.closing = False

    @property
    def total(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def count(self, user_id: str) -> int:
        return len(self._by_user.get(user_id, {}))

    def by_user(self) -> dict[str, int]:
        return {user: len(conns) for user, conns in self._by_user.items()}

    def open(self, user_id: str) -> Connection:
        """Register a new connection for ``user_id``; it receives every later event.

        Raises:
            TooManyStreams: the user is at ``max_per_user``, or the relay is shutting down.
        """
        conns = self._by_user.setdefault(user_id, {})
        if self.closing or len(conns) >= self._max_per_user:
            if not conns:
                del self._by_user[user_id]
            raise TooManyStreams(user_id)
        connection = Connection(user_id, self._max_queued)
        conns[connection.client_id] = connection
        return connection

    def release(self, connection: Connection) -> None:
        """Forget ``connection`` (idempotent)."""
        conns = self._by_user.get(connection.user_id)
        if conns is None:
            return
        conns.pop(connection.client_id, None)
        if not conns:
            del self._by_user[connection.user_id]

    def publish(self, entry: IndexedEvent) -> int:
        """Offer ``entry`` to each connection of its user; returns how many took it."""
        delivered = 0
        for connection in list(self._by_user.get(entry.user_id, {}).values()):
            was_open = connection.closed_reason is None
            if connection.offer(entry):
                delivered += 1
            elif was_open and self._on_slow is not None:
                self._on_slow()
        return delivered

    def close_all(self, reason: str) -> None:
        """End every stream (shutdown, or a gap in the log): clients reconnect."""
        for conns in self._by_user.values():
            for connection in conns.values():
                connection.close(reason)

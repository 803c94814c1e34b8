"""The relay's per-event path, top to bottom (the relay's ARCHITECTURE.md draws it).

::

    amqp_stream   a Delivery, synchronously, in delivery order (the consumer acks it)
    continuity    new / resumed / old / gap
    ingest        decode once, index (replay.py), local copy (local_log.py)
    fanout        each open connection of the event's user: its sink, else its queue
    frames        what that connection gets of it (horizon, seen ids, `recent`)
    session       onto the socket (the direct writer), else through ASGI `send`

:meth:`Pipeline.receive` runs every stage for one delivery in one synchronous
call: no await, so a stream opening (which registers and takes its replay in
one synchronous step too) sees every event either in the index or in its
queue, never in neither.

Guarantees:
- a bad message never stops the log: it is parked (:mod:`stream_relay.ingest`);
- a gap (a trimmed log, a new epoch) is never silent: the index and the local
  copy are cleared, every stream is closed (clients reconnect and get
  ``recovered: false``), and :attr:`Pipeline.gap` asks the consumer to
  resubscribe from ``first``;
- an event is encoded once, and only when some connection took it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from stream_relay.amqp_frames import Delivery
from stream_relay.catch_up import CatchUp
from stream_relay.continuity import Continuity, Step
from stream_relay.fanout import ConnectionRegistry
from stream_relay.ingest import Ingest
from stream_relay.local_log import LocalLog
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import ReplayIndex

__all__ = ["Pipeline"]

log = logging.getLogger("stream_relay.consumer")


def _position(delivery: Delivery) -> tuple[int, str]:
    """The delivery's stream offset and fingerprint (``message_id``, else a body hash)."""
    offset = delivery.headers.get("x-stream-offset")
    if not isinstance(offset, int):
        raise TypeError("a stream delivery without an integer x-stream-offset header")
    return offset, delivery.message_id or hashlib.sha256(delivery.body).hexdigest()


class Pipeline:
    """Every stage an event of the log goes through on this relay."""

    def __init__(
        self,
        *,
        index: ReplayIndex,
        registry: ConnectionRegistry,
        metrics: RelayMetrics,
        local: LocalLog | None = None,
    ) -> None:
        self.continuity = Continuity()
        self.catch_up = CatchUp()
        self.ingest = Ingest(index, registry, metrics, self.catch_up, local)
        self.gap = asyncio.Event()  # set on a discontinuity: resubscribe from `first`
        self._index = index
        self._registry = registry
        self._local = local

    def receive(self, delivery: Delivery) -> None:
        """One delivery through every stage (see the module docstring)."""
        if self.gap.is_set():
            return  # the rest of a subscription that is being replaced
        offset, fingerprint = _position(delivery)
        step = self.continuity.check(offset, fingerprint)
        if step is Step.GAP:
            self._discontinuity(
                f"expected offset {self.continuity.last_offset} again, got {offset}"
            )
            return
        if step is not Step.OLD:
            self.catch_up.processed(offset)
        if step is not Step.NEW:
            return
        entry = self.ingest.take(offset, fingerprint, delivery)
        if entry is None:
            return
        if self._registry.publish(entry):
            entry.encode()  # once, for every connection that took it (usually done by then)
        entry.release()

    async def restore(self) -> None:
        """Rebuild the index from the local copy; the log is then resumed after it."""
        if self._local is None:
            return
        started = time.monotonic()
        resume = await self._local.load(self._index.add)
        if resume is None:
            self._index.clear()  # a copy found unreadable part-way: read the log from `first`
            return
        self.continuity.restore(resume.offset, resume.fingerprint)
        log.info(
            "index rebuilt from the local log: %d events in %.1fs; resuming at offset %d",
            resume.events,
            time.monotonic() - started,
            resume.offset,
        )

    def subscribing(self, end: int | None) -> int | str:
        """The log ends at ``end`` now; where the next subscription starts."""
        if self.continuity.ends_before(end):
            # Retention never empties a log: a shorter one was deleted and declared again.
            self._discontinuity(
                f"the log now ends at offset {end}, before {self.continuity.last_offset}"
            )
        self.catch_up.expect_head(end)
        self.gap.clear()
        return self.continuity.resume_at()

    def flush(self) -> None:
        """Hand the local copy's appended events to the OS (the consumer's tick)."""
        if self._local is not None:
            self._local.flush()

    def close(self) -> None:
        """Close the local copy."""
        if self._local is not None:
            self._local.close()

    def _discontinuity(self, what: str) -> None:
        log.warning("event log discontinuity: %s; re-reading from first", what)
        self._index.clear()
        if self._local is not None:
            self._local.reset()
        self._registry.close_all("log discontinuity")
        self.continuity.reset()
        self.catch_up.reset()
        self.gap.set()

"""Whether a delivery continues the log the relay holds: new, resumed, old or a gap (DESIGN §8).

RabbitMQ 3.10 starts a subscription at a trimmed offset silently at the first
retained one, and a recreated stream starts again at offset 0 with other
messages. So after any reconnect the consumer resubscribes at its own last
processed offset L (not L + 1) and the first delivery must be that same
message again (same offset, same fingerprint: ``message_id``, else a hash of
the body).

Guarantees (ADR 2 in the relay's ARCHITECTURE.md):
- :meth:`Continuity.check` answers ``RESUMED`` only for the message the
  relay processed last, delivered first after :meth:`Continuity.resume_at`;
  any other first delivery is a ``GAP`` (trimmed past L, or a new epoch);
- after that, offsets at or below the last processed one are ``OLD`` (never
  processed twice) and the rest ``NEW``;
- :meth:`Continuity.ends_before` tells a log that now ends before L (deleted
  and declared again: retention never empties a log) before subscribing
  there, where the broker would wait silently for offsets to catch up;
- after :meth:`Continuity.reset` (a gap) the log is read from ``first``.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Continuity", "Step"]


class Step(Enum):
    """What a delivery is to the log the relay holds."""

    NEW = "new"  # after the last processed message: process it
    RESUMED = "resumed"  # the last processed message again, first after a resubscribe
    OLD = "old"  # at or below the last processed offset: already processed
    GAP = "gap"  # not the message the resubscribe had to start with


class Continuity:
    """The relay's position in the log: the last processed message (offset, fingerprint)."""

    __slots__ = ("_expect", "last")

    def __init__(self) -> None:
        self.last: tuple[int, str] | None = None
        self._expect: tuple[int, str] | None = None

    @property
    def last_offset(self) -> int | None:
        """Offset of the latest message processed (parked ones included)."""
        return self.last[0] if self.last else None

    def restore(self, offset: int, fingerprint: str) -> None:
        """Continue from a message processed before (the local copy's last one)."""
        self.last = (offset, fingerprint)

    def ends_before(self, end: int | None) -> bool:
        """Whether a log that now ends at ``end`` (``None``: empty) lacks the last message."""
        return self.last is not None and (end is None or end < self.last[0])

    def resume_at(self) -> int | str:
        """Where to subscribe: the last processed offset (checked again), else ``first``."""
        self._expect = self.last
        return self.last[0] if self.last else "first"

    def check(self, offset: int, fingerprint: str) -> Step:
        """Place one delivery; a ``NEW`` one becomes the last processed message."""
        if self._expect is not None:
            expected, self._expect = self._expect, None
            return Step.RESUMED if expected == (offset, fingerprint) else Step.GAP
        if self.last is not None and offset <= self.last[0]:
            return Step.OLD
        self.last = (offset, fingerprint)
        return Step.NEW

    def reset(self) -> None:
        """Forget the position (a gap): the next subscription reads from ``first``."""
        self.last = None
        self._expect = None

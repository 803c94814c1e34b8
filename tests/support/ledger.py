"""The checker of the reliability suite: what the API committed vs what each subscriber got.

Counters as in RabbitMQ's Jepsen suite: lost (committed, never delivered),
duplicated (delivered more than once), unexpected (delivered, never committed
for that user: a leak or a phantom), reordered (adjacent pairs delivered in
another order than committed).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Counts:
    sent: int
    delivered: int
    lost: int
    duplicated: int
    unexpected: int
    reordered: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, ...]:
        return (
            self.sent,
            self.delivered,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.reordered,
        )


ZERO = Counts(0, 0, 0, 0, 0, 0)


class Ledger:
    """Notification ids per user, in the order the API acknowledged them (201)."""

    def __init__(self) -> None:
        self.committed: dict[str, list[str]] = defaultdict(list)

    def commit(self, user: str, notification_id: str) -> None:
        self.committed[user].append(notification_id)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.committed.values())

    def check(self, user: str, received: list[str]) -> Counts:
        """Compare one subscriber of ``user`` with what was committed for ``user``."""
        expected = self.committed.get(user, [])
        position = {nid: i for i, nid in enumerate(expected)}
        seen: set[str] = set()
        first: list[str] = []
        duplicated = unexpected = 0
        for nid in received:
            if nid not in position:
                unexpected += 1
            elif nid in seen:
                duplicated += 1
            else:
                seen.add(nid)
                first.append(nid)
        reordered = sum(1 for a, b in itertools.pairwise(first) if position[a] > position[b])
        return Counts(
            sent=len(expected),
            delivered=len(received),
            lost=len(expected) - len(seen),
            duplicated=duplicated,
            unexpected=unexpected,
            reordered=reordered,
        )

"""Per-user request rate limit: a token bucket per user token, in this process's memory.

Service tokens (scope ``notifications:publish``) are not limited: they are
QaHub's own services and may legitimately burst. A limit of 0 disables it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from notifications_api.errors import TooManyRequests
from qahub_contracts.auth import PUBLISH_SCOPE, Principal

__all__ = ["RateLimiter"]

_MAX_TRACKED: Final = 100_000  # buckets kept before idle ones are swept


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_second`` requests per user, with bursts of ``burst``."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def check(self, caller: Principal) -> None:
        """Take one token for ``caller``.

        Raises:
            TooManyRequests: the caller's bucket is empty (the message says when to retry).
        """
        if self.per_second <= 0 or PUBLISH_SCOPE in caller.scopes:
            return
        now = time.monotonic()
        bucket = self._buckets.get(caller.user_id)
        if bucket is None:
            if len(self._buckets) >= _MAX_TRACKED:
                self._sweep(now)
            bucket = self._buckets[caller.user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / self.per_second
            raise TooManyRequests(f"too many requests; retry in {wait:.2f} s", retry_after=wait)
        bucket.tokens -= 1

    def _sweep(self, now: float) -> None:
        """Forget users whose bucket has refilled completely (they are idle)."""
        full = self.burst / self.per_second
        self._buckets = {u: b for u, b in self._buckets.items() if now - b.updated < full}

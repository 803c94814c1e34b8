"""Snapshots per user, not per stream: coalesced, shared and reused while exact (DESIGN §6).

Why a shared snapshot is exact for a stream. A stream's hand-over horizon is
the index's last offset when it registered (:mod:`stream_relay.opening`); its
snapshot must reflect every event of its user at or below that horizon (the
later ones reach it live, and the frame rules drop what the snapshot already
shows). Every indexed event was committed to the database before it was
published (the outbox), so a request sent to the API when the index's last
offset was ``F`` reflects every event at or below ``F``. Such a snapshot
therefore serves any stream whose user has no indexed event above ``F``. This
is checked when the stream asks, against the user's latest indexed offset
then, which is at least what it was at the stream's horizon: the safe side. A
request still waiting for its turn has not been sent, so it serves everyone
who asks meanwhile; ``F`` is noted when it goes out.

Guarantees:
- at most one API request per user at a time: a stream that the user's
  current request cannot serve waits for it to end, then asks again;
- a stream that goes away never cancels a request others wait for;
- a snapshot the API answered in full is kept ``reuse_seconds`` after its
  answer and used only under the rule above (any newer indexed event of the
  user retires it); a failed or partial answer is never kept, so the next
  stream asks the API again (and gets it once the API is back);
- the index forgetting everything (a gap or a new epoch: its ``generation``
  changes) retires every kept snapshot;
- bounded: at most ``max_users`` users' snapshots, least recently used
  dropped first, and expired ones are dropped as new requests start.

Limit: an event the relay parks (undecodable) is in the database but never
indexed, so it does not retire a kept snapshot; nor does a change whose event
has not reached the relay yet (its live event follows, as with a fresh fetch).
``reuse_seconds`` bounds how much older than the database such a snapshot is.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_relay.replay import ReplayIndex
from stream_relay.snapshot import MISSING, Snapshot, SnapshotClient

__all__ = ["SnapshotCache"]


@dataclass(slots=True)
class _Request:
    """One user's request to the API, and its answer while it may be reused."""

    generation: int
    task: asyncio.Task[Snapshot] = field(init=False)
    horizon: int | None = None  # the index's last offset when it went out; None: not yet
    expires: float = float("inf")


class SnapshotCache:
    """:meth:`get` a user's snapshot, sharing requests and answers (module docstring)."""

    def __init__(
        self,
        client: SnapshotClient,
        index: ReplayIndex,
        *,
        reuse_seconds: float,
        max_users: int,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._client = client
        self._index = index
        self._reuse = reuse_seconds
        self._max_users = max_users
        self._requests: OrderedDict[str, _Request] = OrderedDict()
        self._snapshots = Counter(
            "stream_relay_snapshots",
            "Snapshots given to streams: from a request of their own, or shared",
            ["source"],
            registry=registry,
        )
        if registry is not None:
            registry.register(_RequestCount(client))

    def __len__(self) -> int:
        return len(self._requests)

    async def get(self, user_id: str, token: str) -> Snapshot:
        """The user's snapshot, exact for a stream registered before this call.

        ``token`` (the stream's own) is used only if a new request is needed.
        """
        while True:
            request = self._requests.get(user_id)
            if request is not None and self._serves(request, user_id):
                self._requests.move_to_end(user_id)
                self._snapshots.labels(source="shared").inc()
                return await asyncio.shield(request.task)
            if request is not None and not request.task.done():
                await asyncio.wait({request.task})  # one request per user at a time
                continue
            request = self._start(user_id, token)
            self._snapshots.labels(source="request").inc()
            return await asyncio.shield(request.task)

    def ready(self, user_id: str) -> Snapshot | None:
        """The user's snapshot if :meth:`get` would return it without waiting (a kept
        answer that serves under the module's rule), else ``None``."""
        request = self._requests.get(user_id)
        if request is None or not request.task.done() or request.task.cancelled():
            return None
        if request.task.exception() is not None or not self._serves(request, user_id):
            return None
        self._requests.move_to_end(user_id)
        self._snapshots.labels(source="shared").inc()
        return request.task.result()

    def close(self) -> None:
        """Cancel the requests in flight and forget every snapshot (the relay stops)."""
        for request in self._requests.values():
            request.task.cancel()
        self._requests.clear()

    def _serves(self, request: _Request, user_id: str) -> bool:
        if request.generation != self._index.generation:
            return False
        if request.task.done() and time.monotonic() >= request.expires:
            return False
        if request.horizon is None:
            return True
        latest = self._index.latest(user_id)
        return latest is None or latest.offset <= request.horizon

    def _start(self, user_id: str, token: str) -> _Request:
        request = _Request(self._index.generation)

        def sent() -> None:
            last = self._index.last_offset
            request.horizon = -1 if last is None else last

        request.task = asyncio.create_task(self._client.fetch(token, on_send=sent))
        request.task.add_done_callback(partial(self._answered, user_id, request))
        self._requests[user_id] = request
        self._requests.move_to_end(user_id)
        self._sweep()
        return request

    def _sweep(self) -> None:
        """Drop the least recently used requests while over the bound or past their time
        (a storm's users leave nothing behind once their snapshots expire)."""
        now = time.monotonic()
        while self._requests:
            oldest = next(iter(self._requests.values()))
            expired = oldest.task.done() and now >= oldest.expires
            if len(self._requests) <= self._max_users and not expired:
                return
            self._requests.popitem(last=False)

    def _answered(self, user_id: str, request: _Request, task: asyncio.Task[Snapshot]) -> None:
        snapshot = MISSING if task.cancelled() or task.exception() else task.result()
        if snapshot.complete and self._reuse > 0:
            request.expires = time.monotonic() + self._reuse
        elif self._requests.get(user_id) is request:
            del self._requests[user_id]


class _RequestCount(Collector):
    """``stream_relay_snapshot_requests_total``: requests the relay sent to the API."""

    def __init__(self, client: SnapshotClient) -> None:
        self._client = client

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "stream_relay_snapshot_requests",
            "Requests sent to the notifications API for snapshots",
            value=self._client.requests,
        )

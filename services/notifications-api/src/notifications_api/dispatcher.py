"""The outbox dispatcher: pending rows -> publish with confirms -> settle.

One loop per API instance. Each step: be connected (:mod:`~notifications_api.broker_link`),
be the leader (:mod:`~notifications_api.leadership`), read the oldest pending
rows, publish each user's rows one after another (different users at once),
and hand the confirmed ids to :mod:`~notifications_api.settling` for deletion.
A commit wakes the loop; so does a lost broker connection, which it replaces
at once. Otherwise it polls every ``OUTBOX_POLL_SECONDS`` (other instances'
commits). Guarantees (ADR 0001): a user's events are published in commit
order; a row leaves the outbox only after its confirm; a failure keeps the
row pending and the loop alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from aio_pika.exceptions import DeliveryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications_api import outbox
from notifications_api.broker_link import BrokerLink
from notifications_api.database import Writer
from notifications_api.leadership import Leadership
from notifications_api.metrics import ApiMetrics
from notifications_api.publisher import PUBLISH_ERRORS, Publisher
from notifications_api.settings import ApiSettings
from notifications_api.settling import Settling

__all__ = ["OutboxDispatcher"]

log = logging.getLogger("notifications_api.outbox")

_MAX_BACKOFF: Final = 5.0


@dataclass
class _Chain:
    """What publishing one user's pending rows came to."""

    confirmed: list[int] = field(default_factory=list)
    failed: int | None = None
    error: BaseException | None = None


class OutboxDispatcher:
    """Publishes pending outbox rows until :meth:`stop`."""

    def __init__(
        self,
        settings: ApiSettings,
        metrics: ApiMetrics,
        *,
        readers: async_sessionmaker[AsyncSession],
        writer: Writer,
        leadership: Leadership,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._readers = readers  # on SQLite a connection that never waits for the writer
        self._writer = writer
        self._leadership = leadership
        self._settling = Settling(writer)
        self._link = BrokerLink(settings, metrics, on_lost=self.wake)
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._backoff = 0.0

    @property
    def broker_connected(self) -> bool:
        """True while the broker link is open (false as soon as it closes)."""
        return self._link.connected

    def wake(self) -> None:
        """Tell the dispatcher that new rows were committed."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop after the batch in flight is confirmed; :meth:`run` then releases everything."""
        self._stopped.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Dispatch until :meth:`stop`; never raises for broker or database failures."""
        try:
            while not self._stopped.is_set():
                published = await self._step()
                if not published and not self._stopped.is_set():
                    await self._idle()
        finally:
            await self._settling.stop()
            await self._link.close()
            await self._resign()

    async def _step(self) -> int:
        try:
            publisher = await self._link.publisher()
            if not await self._leadership.hold():
                return 0
            self._metrics.dispatcher_leader.set(1)
            published = await self._dispatch(publisher)
        except PUBLISH_ERRORS as exc:
            await self._link.failed(exc)
            self._back_off()
            return 0
        except Exception as exc:  # noqa: BLE001 - the database may fail in many ways
            log.warning("outbox dispatch failed: %s: %s", type(exc).__name__, exc)
            self._metrics.publish_failures.labels("database").inc()
            await self._resign()
            self._back_off()
            return 0
        self._backoff = 0.0
        return published

    async def _idle(self) -> None:
        """Until woken or the poll interval; after a failure, the whole backoff (only a
        stop cuts it short: commits during an outage must not hammer the broker)."""
        wakeup = self._stopped if self._backoff else self._wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                wakeup.wait(), self._backoff or self._settings.outbox_poll_seconds
            )
        self._wakeup.clear()

    def _back_off(self) -> None:
        self._backoff = min(max(self._backoff * 2, 0.2), _MAX_BACKOFF)

    async def _dispatch(self, publisher: Publisher) -> int:
        size = self._settings.outbox_batch_size
        if len(self._settling.confirmed) > 4 * size:  # deleting lags: catch up first
            await self._settling.wait()
        skip = set(self._settling.confirmed)  # copied before the read (see settling)
        async with self._readers() as session:
            rows = await outbox.pending(session, size, skip)
        self._metrics.outbox_pending.set(len(rows))
        by_user: dict[str, list[outbox.Pending]] = defaultdict(list)
        for row in rows:
            by_user[row.user_id].append(row)
        chains = await asyncio.gather(
            *(self._publish_in_order(publisher, chain) for chain in by_user.values())
        )
        confirmed = [row_id for chain in chains for row_id in chain.confirmed]
        self._metrics.published.inc(len(confirmed))
        self._settling.add(confirmed)
        failed = [c.failed for c in chains if c.failed is not None]
        if failed:
            await self._writer.run(functools.partial(outbox.count_attempts, ids=failed))
        error = next((c.error for c in chains if c.error is not None), None)
        if error is not None:
            raise error
        return len(confirmed)

    async def _publish_in_order(self, publisher: Publisher, rows: list[outbox.Pending]) -> _Chain:
        """Publish one user's rows one after another; stop at the first failure."""
        result = _Chain()
        for row in rows:
            try:
                await publisher.publish(
                    row.body,
                    routing_key=row.routing_key,
                    message_id=str(row.event_id),
                    timestamp=row.created_at,
                    timeout=self._settings.publish_timeout_seconds,
                )
            except (*PUBLISH_ERRORS, DeliveryError) as exc:
                result.failed, result.error = row.id, exc
                return result
            result.confirmed.append(row.id)
            self._metrics.publish_seconds.observe(outbox.since_commit(row.created_at))
        return result

    async def _resign(self) -> None:
        self._metrics.dispatcher_leader.set(0)
        await self._leadership.release()

"""The transactional outbox: events committed with their change, published after.

``enqueue`` adds an event to the caller's transaction. ``OutboxDispatcher``
publishes pending rows in id order with confirms and deletes each row only
after its confirm, so a crash between commit and publish loses nothing (a
crash between confirm and delete republishes: consumers dedupe by
``eventId``). On PostgreSQL one dispatcher per database holds an advisory
lock, so per-user order holds with several API processes.

The latency path is: commit -> wake -> one SELECT on a reader that never
waits for the writer -> publishes -> confirms. Deleting confirmed rows is
off that path: a settling task deletes them in batches meanwhile, and polls
skip rows already confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from aio_pika.exceptions import DeliveryError, PublishError
from sqlalchemy import Executable, Row, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from notifications_api.database import Writer
from notifications_api.metrics import ApiMetrics
from notifications_api.models import OutboxEvent, table_of, utcnow
from notifications_api.publisher import PUBLISH_ERRORS, Publisher
from notifications_api.settings import ApiSettings
from qahub_contracts.events import DomainEvent, encode_event

__all__ = ["OutboxDispatcher", "OutboxLag", "enqueue", "outbox_lag", "outbox_rows"]

log = logging.getLogger("notifications_api.outbox")

_LOCK_KEY: Final = 0x51A4B0  # advisory lock id: "one dispatcher per database"
_MAX_BACKOFF: Final = 5.0
_CLOSE_TIMEOUT: Final = 2.0
_SETTLE_RETRY_SECONDS: Final = 0.2


async def enqueue(session: AsyncSession, *events: DomainEvent) -> None:
    """Add ``events`` to the session's transaction, in order; published after commit."""
    if events:
        await session.execute(insert(table_of(OutboxEvent)), outbox_rows(events))


def outbox_rows(events: Sequence[DomainEvent]) -> list[dict[str, object]]:
    """The outbox rows of ``events``, in order (for a multi-row insert)."""
    now = utcnow()
    return [
        {
            "event_id": event.event_id,
            "user_id": event.user_id,
            "routing_key": event.event_type.value,
            "body": encode_event(event),
            "created_at": now,
            "attempts": 0,
        }
        for event in events
    ]


@dataclass(frozen=True)
class OutboxLag:
    """How far the outbox is behind: pending rows and the oldest one's age."""

    pending: int
    oldest_seconds: float


async def outbox_lag(sessions: async_sessionmaker[AsyncSession]) -> OutboxLag:
    async with sessions() as session:
        row = (await session.execute(select(func.count(), func.min(OutboxEvent.created_at)))).one()
    oldest = (utcnow() - _aware(row[1])).total_seconds() if row[1] else 0.0
    return OutboxLag(pending=int(row[0]), oldest_seconds=max(oldest, 0.0))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_PENDING_COLUMNS: Final = (
    OutboxEvent.id,
    OutboxEvent.user_id,
    OutboxEvent.routing_key,
    OutboxEvent.body,
    OutboxEvent.event_id,
    OutboxEvent.created_at,
)
# A pending row as plain columns: no ORM identity map or instance state per row.
_Pending = Row[int, str, str, bytes, uuid.UUID, datetime]


@dataclass
class _Chain:
    """What publishing one user's pending rows came to."""

    confirmed: list[int] = field(default_factory=list)
    failed: int | None = None
    error: BaseException | None = None


class OutboxDispatcher:
    """Publishes pending outbox rows; woken after each local commit, polls otherwise."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: ApiSettings,
        metrics: ApiMetrics,
        *,
        readers: async_sessionmaker[AsyncSession],
        writer: Writer,
    ) -> None:
        self._engine = engine
        self._readers = readers  # the poll's (on SQLite a connection that never waits)
        self._writer = writer  # deletes share the group commit's writer (SQLite: its thread)
        self._confirmed: set[int] = set()  # confirmed, not deleted yet
        self._settler: asyncio.Task[None] | None = None
        self._settings = settings
        self._metrics = metrics
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._publisher: Publisher | None = None
        self._lock_connection: AsyncConnection | None = None
        self._backoff = 0.0

    @property
    def broker_connected(self) -> bool:
        return self._publisher is not None and self._publisher.is_open

    def wake(self) -> None:
        """Tell the dispatcher that new rows were committed."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop after the batch in flight is confirmed; release the broker and the lock."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Dispatch until :meth:`stop`; never raises for broker or database failures."""
        try:
            while not self._stopping:
                published = await self._step()
                if not published and not self._stopping:
                    await self._idle()
        finally:
            await self._release()

    async def _step(self) -> int:
        try:
            publisher = await self._ensure_publisher()
            if not await self._lead():
                return 0
            published = await self._dispatch_batch(publisher)
        except PUBLISH_ERRORS as exc:
            await self._on_failure(exc)
            return 0
        except Exception as exc:  # noqa: BLE001 - the database may fail in many ways
            log.warning("outbox dispatch failed: %s: %s", type(exc).__name__, exc)
            self._metrics.publish_failures.labels("database").inc()
            await self._drop_leadership()
            self._backoff = min(max(self._backoff * 2, 0.2), _MAX_BACKOFF)
            return 0
        self._backoff = 0.0
        return published

    async def _idle(self) -> None:
        timeout = self._backoff or self._settings.outbox_poll_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()

    async def _lead(self) -> bool:
        """Hold the advisory lock (PostgreSQL); SQLite has one dispatcher per file."""
        if self._engine.dialect.name != "postgresql":
            self._metrics.dispatcher_leader.set(1)
            return True
        if self._lock_connection is not None:
            await self._lock_connection.execute(text("SELECT 1"))  # still holding it?
            return True
        connection = await self._engine.connect()
        got = await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})
        await connection.commit()
        if not got:
            await connection.close()
            return False
        log.info("this instance now dispatches the outbox")
        self._lock_connection = connection
        self._metrics.dispatcher_leader.set(1)
        return True

    async def _ensure_publisher(self) -> Publisher:
        if self._publisher is None or not self._publisher.is_open:
            self._publisher = await Publisher.connect(
                self._settings.broker_endpoints,
                max_age=self._settings.event_log_max_age,
                replicas=self._settings.event_log_replicas,
            )
            self._metrics.broker_up.set(1)
            log.info("connected to RabbitMQ")
        return self._publisher

    async def _dispatch_batch(self, publisher: Publisher) -> int:
        size = self._settings.outbox_batch_size
        if len(self._confirmed) > 4 * size:  # deleting lags (database trouble): catch up first
            await self._settled()
        # Copied before the read: a row deleted meanwhile left the set only after its
        # delete committed, so the read either misses it or finds it in this copy.
        skip = set(self._confirmed)
        async with self._readers() as session:
            rows = (
                await session.execute(
                    select(*_PENDING_COLUMNS).order_by(OutboxEvent.id).limit(size + len(skip))
                )
            ).all()
        rows = [row for row in rows if row.id not in skip][:size]
        self._metrics.outbox_pending.set(len(rows))
        if not rows:
            return 0
        by_user: dict[str, list[_Pending]] = defaultdict(list)
        for row in rows:
            by_user[row.user_id].append(row)
        chains = await asyncio.gather(
            *(self._publish_in_order(publisher, chain) for chain in by_user.values())
        )
        confirmed = [row_id for chain in chains for row_id in chain.confirmed]
        self._metrics.published.inc(len(confirmed))
        self._confirmed.update(confirmed)
        if confirmed and (self._settler is None or self._settler.done()):
            self._settler = asyncio.create_task(self._settle(), name="outbox-settle")
        failed = [c.failed for c in chains if c.failed is not None]
        if failed:
            await self._count_attempts(failed)
        error = next((c.error for c in chains if c.error is not None), None)
        if error is not None:
            raise error
        return len(confirmed)

    async def _publish_in_order(self, publisher: Publisher, chain: list[_Pending]) -> _Chain:
        """Publish one user's rows one after another; stop at the first failure."""
        result = _Chain()
        for row in chain:
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
            latency = (utcnow() - _aware(row.created_at)).total_seconds()
            self._metrics.publish_seconds.observe(latency)
        return result

    async def _settle(self) -> None:
        """Delete confirmed rows, in batches, until none is left (retries on errors)."""
        while self._confirmed:
            batch = list(self._confirmed)
            try:
                await self._delete(batch)
            except Exception as exc:  # noqa: BLE001 - rows stay; republished if we stop now
                log.warning(
                    "deleting confirmed outbox rows failed: %s: %s", type(exc).__name__, exc
                )
                if self._stopping:
                    return
                await asyncio.sleep(_SETTLE_RETRY_SECONDS)
                continue
            self._confirmed.difference_update(batch)

    async def _delete(self, ids: list[int]) -> None:
        await self._execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))

    async def _execute(self, statement: Executable) -> None:
        """One write, through the group commit's writer (on SQLite: no lock contention)."""
        await self._writer.run(lambda connection: connection.execute(statement))

    async def _settled(self) -> None:
        if self._settler is not None:
            await self._settler

    async def _count_attempts(self, failed: list[int]) -> None:
        await self._execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(failed))
            .values(attempts=OutboxEvent.attempts + 1)
        )

    async def _on_failure(self, exc: BaseException) -> None:
        reason = "unroutable" if isinstance(exc, PublishError) else type(exc).__name__
        self._metrics.publish_failures.labels(reason).inc()
        log.warning("publish failed (%s); events stay pending and are retried", reason)
        # Reconnect next time: redeclares the topology (a removed binding heals).
        await self._close_publisher()
        self._backoff = min(max(self._backoff * 2, 0.2), _MAX_BACKOFF)

    async def _close_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        self._metrics.broker_up.set(0)
        if publisher is not None:
            # A blackholed or blocked connection never answers connection.close: don't wait.
            with contextlib.suppress(*PUBLISH_ERRORS):
                await asyncio.wait_for(publisher.close(), _CLOSE_TIMEOUT)

    async def _drop_leadership(self) -> None:
        connection, self._lock_connection = self._lock_connection, None
        self._metrics.dispatcher_leader.set(0)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _release(self) -> None:
        with contextlib.suppress(Exception):
            await self._settled()
        await self._close_publisher()
        await self._drop_leadership()

"""Group commit: concurrent creates share one transaction.

A create costs a few round trips and one commit; under load most of that is
fixed cost. The batcher queues concurrent creates and writes each batch in ONE
transaction (one counter upsert per user, multi-row inserts of the rows, the
outbox events and the idempotency keys). Each create still gets its own
notification, its own event and the exact stats after *its* change. With no
concurrency a batch is one create, so latency at low load is unchanged.

The batch is written by synchronous SQLAlchemy Core on one connection: on
SQLite a dedicated writer thread runs the whole transaction in ONE hop (see
``database.create_writer``: ≈ 3.5x less CPU and 5x less latency than
statement by statement through aiosqlite); on PostgreSQL the async engine
runs the same function with ``run_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError

from notifications_api import counters
from notifications_api.database import Writer
from notifications_api.errors import IdempotencyConflict
from notifications_api.models import IdempotencyKey, Notification, OutboxEvent, table_of, utcnow
from notifications_api.outbox import outbox_rows
from qahub_contracts import api
from qahub_contracts.events import NotificationCreated

__all__ = ["CreateBatcher", "PendingCreate"]

log = logging.getLogger("notifications_api.group_commit")

MAX_BATCH: Final = 256


@dataclass
class PendingCreate:
    """One create waiting for its batch."""

    caller_id: str
    request: api.CreateNotification
    key: str | None
    digest: str
    future: asyncio.Future[api.Notification] = field(repr=False)


class CreateBatcher:
    """Writes queued creates in batches, one transaction each, in arrival order.

    ``writer``: where each batch's transaction runs
    (:func:`~notifications_api.database.create_writer`).
    """

    def __init__(self, writer: Writer, on_commit: Callable[[], None]) -> None:
        self._writer = writer
        self._on_commit = on_commit
        self._queue: asyncio.Queue[PendingCreate] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="create-batcher")

    async def stop(self) -> None:
        """Finish every create already queued, then stop."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(
        self, caller_id: str, request: api.CreateNotification, key: str | None, digest: str
    ) -> api.Notification:
        """Queue a create and wait until its batch commits.

        Raises:
            IdempotencyConflict: the key appears in the batch with another body.
            IntegrityError: the key was committed concurrently by another process.
            Any database error of the batch's transaction.
        """
        future: asyncio.Future[api.Notification] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(PendingCreate(caller_id, request, key, digest, future))
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[PendingCreate]) -> None:
        fresh = _unique_keys(batch)
        try:
            created = await self._writer.run(functools.partial(_insert, batch=fresh))
        except IntegrityError as exc:
            if len(fresh) > 1:  # a key raced another process: retry one by one
                for item in fresh:
                    await self._commit([item])
                return
            _fail(fresh, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every waiter gets the database's error
            _fail(fresh, exc)
            return
        for item, notification in zip(fresh, created, strict=True):
            if not item.future.done():
                item.future.set_result(notification)
        self._on_commit()


def _unique_keys(batch: list[PendingCreate]) -> list[PendingCreate]:
    """Creates to write; a repeated idempotency key in the batch follows the first one."""
    first: dict[tuple[str, str], PendingCreate] = {}
    fresh: list[PendingCreate] = []
    for item in batch:
        if item.key is None or (item.caller_id, item.key) not in first:
            if item.key is not None:
                first[item.caller_id, item.key] = item
            fresh.append(item)
            continue
        original = first[item.caller_id, item.key]
        if original.digest != item.digest:
            item.future.set_exception(
                IdempotencyConflict("this Idempotency-Key was used with a different request")
            )
        else:
            original.future.add_done_callback(functools.partial(_follow, item))
    return fresh


def _follow(item: PendingCreate, done: asyncio.Future[api.Notification]) -> None:
    """A repeat of an idempotency key in the same batch gets the first one's outcome."""
    if item.future.done():
        return
    error = done.exception()
    if error is not None:
        item.future.set_exception(error)
    else:
        item.future.set_result(done.result())


def _fail(items: list[PendingCreate], exc: BaseException) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(exc)


def _insert(connection: Connection, batch: list[PendingCreate]) -> list[api.Notification]:
    """Write ``batch`` in the connection's transaction; returns the notifications in order.

    Counter rows are locked in user-id order, so concurrent batches of several
    API processes never deadlock; each user's rows and events keep batch order.
    """
    per_user: dict[str, int] = {}
    for item in batch:
        per_user[item.request.notifiable_id] = per_user.get(item.request.notifiable_id, 0) + 1
    final = counters.add_created(connection, per_user)
    now, seen = utcnow(), dict.fromkeys(per_user, 0)
    created: list[api.Notification] = []
    events: list[NotificationCreated] = []
    for item in batch:
        user = item.request.notifiable_id
        seen[user] += 1
        behind = per_user[user] - seen[user]  # creates of this user later in the batch
        stats = api.Stats(
            total=final[user].total - behind,
            unread=final[user].unread - behind,
            read=final[user].read,
        )
        notification = api.Notification(
            id=uuid.uuid4(),
            type=item.request.type,
            notifiable_id=user,
            data=item.request.data,
            read_at=None,
            created_at=now,
        )
        created.append(notification)
        events.append(NotificationCreated(user_id=user, stats=stats, notification=notification))
    connection.execute(insert(table_of(Notification)), [_row(n) for n in created])
    connection.execute(insert(table_of(OutboxEvent)), outbox_rows(events))
    keys = [
        {
            "user_id": i.caller_id,
            "key": i.key,
            "request_hash": i.digest,
            "response": n.model_dump_json(),
            "created_at": now,
        }
        for i, n in zip(batch, created, strict=True)
        if i.key is not None
    ]
    if keys:
        connection.execute(insert(table_of(IdempotencyKey)), keys)
    return created


def _row(notification: api.Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "user_id": notification.notifiable_id,
        "type": notification.type,
        "data": notification.data,
        "read_at": None,
        "created_at": notification.created_at,
    }

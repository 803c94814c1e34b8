"""Group commit: concurrent creates share one transaction (ADR 0002).

A create's transaction is mostly fixed cost (round trips, the commit). The
batcher queues concurrent creates and hands each batch to ONE transaction on
the :class:`~notifications_api.database.Writer`, which writes them all and
gives each create its own notification, event and exact stats
(:func:`notifications_api.notifications.insert_created`). With no concurrency
a batch is one create, so latency at low load is unchanged.

Guarantees: creates commit in arrival order; each waiter gets its own result
or its batch's error; a repeated idempotency key within a batch follows the
first occurrence (same body: same result; another body: conflict).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from notifications_api.database import Writer
from notifications_api.errors import IdempotencyConflict
from qahub_contracts import api

__all__ = ["CreateBatcher", "PendingCreate"]

MAX_BATCH: Final = 256


@dataclass
class PendingCreate:
    """One create waiting for its batch."""

    caller_id: str
    request: api.CreateNotification
    key: str | None
    digest: str
    future: asyncio.Future[api.Notification] = field(repr=False)


InsertBatch = Callable[[Connection, list[PendingCreate]], list[api.Notification]]
"""Writes a batch in the connection's transaction; the notifications, in order."""


class CreateBatcher:
    """Writes queued creates in batches, one transaction each, in arrival order."""

    def __init__(self, writer: Writer, insert: InsertBatch, on_commit: Callable[[], None]) -> None:
        self._writer = writer
        self._insert = insert
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
            created = await self._writer.run(lambda connection: self._insert(connection, fresh))
        except DBAPIError as exc:
            if len(fresh) > 1 and _about_a_row(exc):  # retry one by one: one create fails
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


def _about_a_row(error: DBAPIError) -> bool:
    """An error one create of the batch may have caused (a key that raced another process,
    a value the database refuses), not an unreachable database: worth retrying one by one."""
    if isinstance(error, IntegrityError):
        return True
    return not isinstance(error, OperationalError | InterfaceError) and not (
        error.connection_invalidated
    )


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

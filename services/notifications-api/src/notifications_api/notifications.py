"""Use cases: create, list, read, mark and delete notifications.

Each write is ONE transaction on the :class:`~notifications_api.database.Writer`
holding the notification change, the user's counters after it and the outbox
event(s) that announce it (DESIGN §6); the transactions are the functions at
the end of this module, one per use case. Every write first locks the user's
counter row, so one user's writers queue in one line: they never deadlock, and
a user's outbox ids follow its commit order (which the dispatcher's per-user
publish order relies on). Creates share transactions (:mod:`~notifications_api.group_commit`).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Row, Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from notifications_api import counters, outbox
from notifications_api.database import Database, read_one_snapshot
from notifications_api.errors import Forbidden, IdempotencyConflict, NotFound
from notifications_api.group_commit import CreateBatcher, PendingCreate
from notifications_api.models import IdempotencyKey, Notification, table_of, utcnow
from notifications_api.pagination import decode_cursor, encode_cursor
from qahub_contracts import api
from qahub_contracts.auth import Principal
from qahub_contracts.events import NotificationCreated, NotificationDeleted, NotificationUpdated

__all__ = ["Notifications", "Status", "insert_created"]

Status = Literal["all", "unread", "read"]
T = TypeVar("T")

_TABLE = table_of(Notification)
_COLUMNS = (
    *(_TABLE.c.seq, _TABLE.c.id, _TABLE.c.user_id, _TABLE.c.type),
    *(_TABLE.c.data, _TABLE.c.read_at, _TABLE.c.created_at),
)


class Notifications:
    """The notification use cases over one database; ``on_commit`` wakes the outbox."""

    def __init__(self, database: Database, on_commit: Callable[[], None]) -> None:
        self._sessions = database.sessions
        self._writer = database.writer
        self._on_commit = on_commit
        self._batcher = CreateBatcher(database.writer, insert_created, on_commit)

    def start(self) -> None:
        self._batcher.start()

    async def stop(self) -> None:
        """Commit every create already accepted, then stop."""
        await self._batcher.stop()

    async def create(
        self, caller: Principal, request: api.CreateNotification, idempotency_key: str | None
    ) -> api.Notification:
        """Create a notification for ``request.notifiable_id``; returned once committed.

        With ``idempotency_key``, a repeat by the same caller returns the first
        result and creates nothing (REST's Idempotency-Key, a command's commandId).

        Raises:
            Forbidden: a user token tried to notify someone else.
            IdempotencyConflict: the key was used before with another body.
        """
        if not caller.may_notify(request.notifiable_id):
            raise Forbidden("this token may only notify its own user (scope notifications:publish)")
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        # Optimistic: insert first. A repeated key fails the insert (the key's primary
        # key), and only then is the first answer read; a read before every keyed
        # create cost more than the create itself.
        try:
            return await self._batcher.submit(caller.user_id, request, idempotency_key, digest)
        except IntegrityError:
            if idempotency_key is None:
                raise
            earlier = await self._replay(caller.user_id, idempotency_key, digest)
            if earlier is None:
                raise
            return earlier

    async def _replay(self, caller_id: str, key: str, digest: str) -> api.Notification | None:
        async with self._sessions() as session:
            earlier = await session.get(IdempotencyKey, (caller_id, key))
        if earlier is None:
            return None
        if earlier.request_hash != digest:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request")
        return api.Notification.model_validate_json(earlier.response)

    async def page(
        self, user_id: str, status: Status, limit: int, cursor: str | None
    ) -> api.NotificationPage:
        """The user's notifications, newest first, ``limit`` at a time.

        Raises:
            InvalidCursor: ``cursor`` is not one this API handed out.
        """
        query = _owned(user_id, status).order_by(_TABLE.c.seq.desc()).limit(limit + 1)
        if cursor is not None:
            query = query.where(_TABLE.c.seq < decode_cursor(cursor))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
        return api.NotificationPage(items=[_wire(r) for r in rows], next_cursor=next_cursor)

    async def stats(self, user_id: str) -> api.Stats:
        async with self._sessions() as session:
            return counters.to_stats((await session.execute(counters.stats_of(user_id))).first())

    async def snapshot(self, user_id: str, limit: int) -> api.Snapshot:
        """The user's counters and ``limit`` newest unread notifications, both read from
        one snapshot of the database (one request where a stream's relay used to make
        two, which could not agree with each other)."""
        query = _owned(user_id, "unread").order_by(_TABLE.c.seq.desc()).limit(limit)
        async with self._sessions() as session:
            await read_one_snapshot(session)
            stats = counters.to_stats((await session.execute(counters.stats_of(user_id))).first())
            rows = (await session.execute(query)).all()
        return api.Snapshot(stats=stats, recent=[_wire(r) for r in rows])

    async def get(self, user_id: str, notification_id: uuid.UUID) -> api.Notification:
        """Raises: NotFound: no such notification of this user."""
        async with self._sessions() as session:
            row = (await session.execute(_one(user_id, notification_id))).first()
        if row is None:
            raise NotFound("notification not found")
        return _wire(row)

    async def mark(
        self, user_id: str, notification_id: uuid.UUID, *, read: bool
    ) -> api.Notification:
        """Set the read state; announces ``notification.updated`` only when it changed.

        Raises:
            NotFound: no such notification of this user.
        """
        return await self._write(_mark, user_id, notification_id=notification_id, read=read)

    async def delete(self, user_id: str, notification_id: uuid.UUID) -> None:
        """Raises: NotFound: no such notification of this user."""
        if await self.delete_many(user_id, [notification_id]) == 0:
            raise NotFound("notification not found")

    async def mark_all_read(self, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
        """Mark the named (or all) unread notifications read; returns how many changed."""
        return await self._write(_mark_all_read, user_id, ids=ids)

    async def delete_many(self, user_id: str, ids: Sequence[uuid.UUID]) -> int:
        """Delete the named notifications of this user; returns how many were deleted."""
        if not ids:
            return 0
        return await self._write(_delete_many, user_id, ids=ids)

    async def _write(self, work: Callable[..., T], user_id: str, **arguments: Any) -> T:  # noqa: ANN401
        result = await self._writer.run(functools.partial(work, user_id=user_id, **arguments))
        self._on_commit()
        return result


def insert_created(connection: Connection, batch: list[PendingCreate]) -> list[api.Notification]:
    """Write a batch of creates; the notifications in order (the group commit's transaction).

    One counter upsert for all users (locked in user-id order, so concurrent
    batches of several API processes never deadlock); each create's event
    carries the stats right after *its* change (the batch's final counters
    minus the user's later creates in the batch).
    """
    per_user: dict[str, int] = {}
    for item in batch:
        per_user[item.request.notifiable_id] = per_user.get(item.request.notifiable_id, 0) + 1
    final = counters.add(connection, {user: (n, n) for user, n in per_user.items()})
    now, created, events = utcnow(), [], []
    for item in batch:
        user = item.request.notifiable_id
        per_user[user] -= 1  # now: this user's creates later in the batch
        stats = api.Stats(
            total=final[user].total - per_user[user],
            unread=final[user].unread - per_user[user],
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
    connection.execute(insert(_TABLE), [_row(n) for n in created])
    outbox.enqueue(connection, events)
    keys = [
        {"user_id": i.caller_id, "key": i.key, "request_hash": i.digest}
        | {"response": n.model_dump_json(), "created_at": now}
        for i, n in zip(batch, created, strict=True)
        if i.key is not None
    ]
    if keys:
        connection.execute(insert(table_of(IdempotencyKey)), keys)
    return created


def _mark(
    connection: Connection, user_id: str, notification_id: uuid.UUID, *, read: bool
) -> api.Notification:
    counters.lock(connection, user_id)
    row = connection.execute(_one(user_id, notification_id)).first()
    if row is None:
        raise NotFound("notification not found")
    if (row.read_at is not None) == read:
        return _wire(row)
    read_at = utcnow() if read else None
    connection.execute(update(_TABLE).where(_TABLE.c.seq == row.seq).values(read_at=read_at))
    stats = counters.add(connection, {user_id: (0, -1 if read else 1)})[user_id]
    updated = _wire(row).model_copy(update={"read_at": read_at})
    event = NotificationUpdated(user_id=user_id, stats=stats, notification=updated)
    outbox.enqueue(connection, [event])
    return updated


def _mark_all_read(connection: Connection, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
    counters.lock(connection, user_id)
    query = update(_TABLE).where(_TABLE.c.user_id == user_id, _TABLE.c.read_at.is_(None))
    if ids is not None:
        query = query.where(_TABLE.c.id.in_(ids))
    rows = connection.execute(query.values(read_at=utcnow()).returning(*_COLUMNS)).all()
    if not rows:
        return 0
    stats = counters.add(connection, {user_id: (0, -len(rows))})[user_id]
    outbox.enqueue(
        connection,
        [
            NotificationUpdated(user_id=user_id, stats=stats, notification=_wire(row))
            for row in sorted(rows, key=lambda r: r.seq)
        ],
    )
    return len(rows)


def _delete_many(connection: Connection, user_id: str, ids: Sequence[uuid.UUID]) -> int:
    counters.lock(connection, user_id)
    query = delete(_TABLE).where(_TABLE.c.user_id == user_id, _TABLE.c.id.in_(ids))
    rows = connection.execute(query.returning(*_COLUMNS)).all()
    if not rows:
        return 0
    unread = sum(1 for r in rows if r.read_at is None)
    stats = counters.add(connection, {user_id: (-len(rows), -unread)})[user_id]
    outbox.enqueue(
        connection,
        [
            NotificationDeleted(user_id=user_id, stats=stats, notification_id=row.id)
            for row in sorted(rows, key=lambda r: r.seq)
        ],
    )
    return len(rows)


def _wire(row: Row[Any]) -> api.Notification:
    return api.Notification(
        id=row.id,
        type=row.type,
        notifiable_id=row.user_id,
        data=row.data,
        read_at=row.read_at,
        created_at=row.created_at,
    )


def _row(notification: api.Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "user_id": notification.notifiable_id,
        "type": notification.type,
        "data": notification.data,
        "read_at": None,
        "created_at": notification.created_at,
    }


def _owned(user_id: str, status: Status) -> Select[Any]:
    query = select(*_COLUMNS).where(_TABLE.c.user_id == user_id)
    if status == "unread":
        return query.where(_TABLE.c.read_at.is_(None))
    if status == "read":
        return query.where(_TABLE.c.read_at.is_not(None))
    return query


def _one(user_id: str, notification_id: uuid.UUID) -> Select[Any]:
    return select(*_COLUMNS).where(_TABLE.c.user_id == user_id, _TABLE.c.id == notification_id)

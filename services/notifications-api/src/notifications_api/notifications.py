"""Use cases: create, list, read, mark and delete notifications.

Each write is ONE transaction holding the notification change, the user's
counters after it and the outbox event(s) that announce it (DESIGN §6).
Every write first locks the user's counter row, so one user's writers queue
in one line: they never deadlock, and a user's outbox ids follow its commit
order (which the dispatcher's per-user publish order relies on).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Literal

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications_api import counters
from notifications_api.errors import Forbidden, IdempotencyConflict, NotFound
from notifications_api.group_commit import CreateBatcher
from notifications_api.models import IdempotencyKey, Notification, utcnow
from notifications_api.outbox import enqueue
from notifications_api.pagination import decode_cursor, encode_cursor
from qahub_contracts import api
from qahub_contracts.auth import Principal
from qahub_contracts.events import NotificationDeleted, NotificationUpdated

__all__ = ["Notifications", "Status", "to_wire"]

Status = Literal["all", "unread", "read"]


def to_wire(row: Notification) -> api.Notification:
    return api.Notification(
        id=row.id,
        type=row.type,
        notifiable_id=row.user_id,
        data=row.data,
        read_at=row.read_at,
        created_at=row.created_at,
    )


class Notifications:
    """The notification use cases over one database; ``on_commit`` wakes the outbox."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_commit: Callable[[], None],
        batcher: CreateBatcher,
    ) -> None:
        self._sessions = sessions
        self._on_commit = on_commit
        self._batcher = batcher

    async def create(
        self, caller: Principal, request: api.CreateNotification, idempotency_key: str | None
    ) -> api.Notification:
        """Create a notification for ``request.notifiable_id``.

        Raises:
            Forbidden: a user token tried to notify someone else.
            IdempotencyConflict: the key was used before with another body.
        """
        if not caller.may_notify(request.notifiable_id):
            raise Forbidden("this token may only notify its own user (scope notifications:publish)")
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        if idempotency_key is not None:
            earlier = await self._replay(caller.user_id, idempotency_key, digest)
            if earlier is not None:
                return earlier
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
        query = _owned(user_id, status).order_by(Notification.seq.desc()).limit(limit + 1)
        if cursor is not None:
            query = query.where(Notification.seq < decode_cursor(cursor))
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
        return api.NotificationPage(items=[to_wire(r) for r in rows], next_cursor=next_cursor)

    async def stats(self, user_id: str) -> api.Stats:
        async with self._sessions() as session:
            return await counters.read_stats(session, user_id)

    async def snapshot(self, user_id: str, limit: int) -> api.Snapshot:
        """The user's counters and ``limit`` newest unread notifications, in one session
        (one request where a stream's relay used to make two)."""
        query = _owned(user_id, "unread").order_by(Notification.seq.desc()).limit(limit)
        async with self._sessions() as session:
            stats = await counters.read_stats(session, user_id)
            rows = (await session.scalars(query)).all()
        return api.Snapshot(stats=stats, recent=[to_wire(r) for r in rows])

    async def get(self, user_id: str, notification_id: uuid.UUID) -> api.Notification:
        """Raises: NotFound: no such notification of this user."""
        async with self._sessions() as session:
            row = await session.scalar(_one(user_id, notification_id))
        if row is None:
            raise NotFound("notification not found")
        return to_wire(row)

    async def mark(
        self, user_id: str, notification_id: uuid.UUID, *, read: bool
    ) -> api.Notification:
        """Set the read state; announces ``notification.updated`` only when it changed.

        Raises:
            NotFound: no such notification of this user.
        """
        async with self._sessions.begin() as session:
            await counters.lock(session, user_id)
            row = await session.scalar(_one(user_id, notification_id))
            if row is None:
                raise NotFound("notification not found")
            if (row.read_at is not None) == read:
                return to_wire(row)
            row.read_at = utcnow() if read else None
            await session.flush()
            stats = await counters.adjust(session, user_id, total=0, unread=-1 if read else 1)
            updated = to_wire(row)
            await enqueue(
                session, NotificationUpdated(user_id=user_id, stats=stats, notification=updated)
            )
        self._on_commit()
        return updated

    async def delete(self, user_id: str, notification_id: uuid.UUID) -> None:
        """Raises: NotFound: no such notification of this user."""
        if await self.delete_many(user_id, [notification_id]) == 0:
            raise NotFound("notification not found")

    async def mark_all_read(self, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
        """Mark the named (or all) unread notifications read; returns how many changed."""
        now = utcnow()
        query = update(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
        if ids is not None:
            query = query.where(Notification.id.in_(ids))
        async with self._sessions.begin() as session:
            await counters.lock(session, user_id)
            rows = (await session.scalars(query.values(read_at=now).returning(Notification))).all()
            if not rows:
                return 0
            stats = await counters.adjust(session, user_id, total=0, unread=-len(rows))
            await enqueue(
                session,
                *(
                    NotificationUpdated(user_id=user_id, stats=stats, notification=to_wire(row))
                    for row in sorted(rows, key=lambda r: r.seq)
                ),
            )
        self._on_commit()
        return len(rows)

    async def delete_many(self, user_id: str, ids: Sequence[uuid.UUID]) -> int:
        """Delete the named notifications of this user; returns how many were deleted."""
        if not ids:
            return 0
        query = (
            delete(Notification)
            .where(Notification.user_id == user_id, Notification.id.in_(ids))
            .returning(Notification.seq, Notification.id, Notification.read_at)
        )
        async with self._sessions.begin() as session:
            await counters.lock(session, user_id)
            rows = (await session.execute(query)).all()
            if not rows:
                return 0
            unread = sum(1 for r in rows if r.read_at is None)
            stats = await counters.adjust(session, user_id, total=-len(rows), unread=-unread)
            await enqueue(
                session,
                *(
                    NotificationDeleted(user_id=user_id, stats=stats, notification_id=row.id)
                    for row in sorted(rows, key=lambda r: r.seq)
                ),
            )
        self._on_commit()
        return len(rows)


def _owned(user_id: str, status: Status) -> Select[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if status == "unread":
        return query.where(Notification.read_at.is_(None))
    if status == "read":
        return query.where(Notification.read_at.is_not(None))
    return query


def _one(user_id: str, notification_id: uuid.UUID) -> Select[Notification]:
    return select(Notification).where(
        Notification.user_id == user_id, Notification.id == notification_id
    )

"""Use cases: create, list, read, mark (read, seen, archived) and delete notifications.

Each write is ONE transaction on the :class:`~notifications_api.database.Writer`
holding the notification change, the user's counters after it and the outbox
event(s) that announce it (DESIGN §6); the transactions are the functions at
the end of this module, one per use case. Every write first locks the user's
counter row, so one user's writers queue in one line: they never deadlock, and
a user's outbox ids follow its commit order (which the dispatcher's per-user
publish order relies on). Creates share transactions (:mod:`~notifications_api.group_commit`);
the changes to existing notifications are in :mod:`~notifications_api.changes`.

A create of a type its recipient turned off answers :class:`~qahub_contracts.api.Suppressed`
and writes nothing, unless it is ``critical`` (publish scope only; DESIGN §13).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications_api import changes, counters, outbox, rows
from notifications_api.database import Database, read_one_snapshot
from notifications_api.errors import Forbidden, IdempotencyConflict, NotFound
from notifications_api.group_commit import CreateBatcher, PendingCreate
from notifications_api.models import IdempotencyKey, table_of, utcnow
from notifications_api.pagination import decode_cursor, encode_cursor
from notifications_api.preferences import PreferenceStore
from notifications_api.rows import TABLE, Status
from qahub_contracts import api
from qahub_contracts.auth import PUBLISH_SCOPE, Principal
from qahub_contracts.events import NotificationCreated

__all__ = ["Notifications", "Status", "insert_created"]

T = TypeVar("T")
_SUPPRESSED: Final = api.Suppressed()


class Notifications:
    """The notification use cases over one database; ``on_commit`` wakes the outbox;
    creates consult ``preferences`` (the app shares its store with the routes)."""

    def __init__(
        self,
        database: Database,
        on_commit: Callable[[], None],
        preferences: PreferenceStore | None = None,
    ) -> None:
        self._preferences = preferences or PreferenceStore(database)
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
    ) -> api.Notification | api.Suppressed:
        """Create a notification for ``request.notifiable_id``; returned once committed.

        With ``idempotency_key``, a repeat by the same caller returns the first
        result and creates nothing (REST's Idempotency-Key, a command's commandId).
        :class:`~qahub_contracts.api.Suppressed` (nothing written) when the
        recipient turned this type off and the request is not ``critical``.

        Raises:
            Forbidden: a user token tried to notify someone else, or to send ``critical``.
            IdempotencyConflict: the key was used before with another body.
        """
        if not caller.may_notify(request.notifiable_id):
            raise Forbidden("this token may only notify its own user (scope notifications:publish)")
        if request.critical and PUBLISH_SCOPE not in caller.scopes:
            raise Forbidden("critical needs a token with the scope notifications:publish")
        digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        muted = not request.critical and not (
            await self._preferences.get(request.notifiable_id)
        ).delivers(request.type)
        if muted:
            earlier = None
            if idempotency_key is not None:  # created before the type was turned off
                earlier = await _first_answer(
                    self._sessions, caller.user_id, idempotency_key, digest
                )
            return earlier or _SUPPRESSED
        # Optimistic: insert first. A repeated key fails the insert (the key's primary
        # key), and only then is the first answer read; a read before every keyed
        # create cost more than the create itself.
        try:
            return await self._batcher.submit(caller.user_id, request, idempotency_key, digest)
        except IntegrityError:
            if idempotency_key is None:
                raise
            earlier = await _first_answer(self._sessions, caller.user_id, idempotency_key, digest)
            if earlier is None:
                raise
            return earlier

    async def page(
        self, user_id: str, status: Status, limit: int, cursor: str | None
    ) -> api.NotificationPage:
        """The user's notifications, newest first, ``limit`` at a time.

        Raises:
            InvalidCursor: ``cursor`` is not one this API handed out.
        """
        query = rows.owned(user_id, status).order_by(TABLE.c.seq.desc()).limit(limit + 1)
        if cursor is not None:
            query = query.where(TABLE.c.seq < decode_cursor(cursor))
        async with self._sessions() as session:
            found = (await session.execute(query)).all()
        more = len(found) > limit
        found = found[:limit]
        next_cursor = encode_cursor(found[-1].seq) if more and found else None
        return api.NotificationPage(items=[rows.wire(r) for r in found], next_cursor=next_cursor)

    async def stats(self, user_id: str) -> api.Stats:
        async with self._sessions() as session:
            return counters.to_stats((await session.execute(counters.stats_of(user_id))).first())

    async def snapshot(self, user_id: str, limit: int) -> api.Snapshot:
        """The user's counters and ``limit`` newest unread notifications, both read from
        one snapshot of the database (one request where a stream's relay used to make
        two, which could not agree with each other)."""
        query = rows.owned(user_id, "unread").order_by(TABLE.c.seq.desc()).limit(limit)
        async with self._sessions() as session:
            await read_one_snapshot(session)
            stats = counters.to_stats((await session.execute(counters.stats_of(user_id))).first())
            found = (await session.execute(query)).all()
        return api.Snapshot(stats=stats, recent=[rows.wire(r) for r in found])

    async def get(self, user_id: str, notification_id: uuid.UUID) -> api.Notification:
        """Raises: NotFound: no such notification of this user."""
        async with self._sessions() as session:
            row = (await session.execute(rows.one(user_id, notification_id))).first()
        if row is None:
            raise NotFound("notification not found")
        return rows.wire(row)

    async def update(
        self, user_id: str, notification_id: uuid.UUID, change: api.UpdateNotification
    ) -> api.Notification:
        """Apply ``change`` (read, seen, archived); ``notification.updated`` only when it
        changed something.

        Raises:
            NotFound: no such notification of this user.
        """
        return await self._write(
            changes.update_one, user_id, notification_id=notification_id, change=change
        )

    async def delete(self, user_id: str, notification_id: uuid.UUID) -> None:
        """Raises: NotFound: no such notification of this user."""
        if await self.delete_many(user_id, [notification_id]) == 0:
            raise NotFound("notification not found")

    async def mark_all_read(self, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
        """Mark the named (or all listed) unread notifications read; how many changed."""
        return await self._write(changes.mark_read, user_id, ids=ids)

    async def mark_seen(self, user_id: str, ids: Sequence[uuid.UUID] | None) -> int:
        """Mark the named (or all listed) unseen notifications seen; how many changed."""
        return await self._write(changes.mark_seen, user_id, ids=ids)

    async def archive(self, user_id: str, ids: Sequence[uuid.UUID]) -> int:
        """Archive the named notifications; how many were not archived before."""
        if not ids:
            return 0
        return await self._write(changes.archive, user_id, ids=ids)

    async def delete_many(self, user_id: str, ids: Sequence[uuid.UUID]) -> int:
        """Delete the named notifications of this user; returns how many were deleted."""
        if not ids:
            return 0
        return await self._write(changes.delete_many, user_id, ids=ids)

    async def _write(self, work: Callable[..., T], user_id: str, **arguments: Any) -> T:  # noqa: ANN401
        result = await self._writer.run(functools.partial(work, user_id=user_id, **arguments))
        self._on_commit()
        return result


async def _first_answer(
    sessions: async_sessionmaker[AsyncSession], caller_id: str, key: str, digest: str
) -> api.Notification | None:
    """The answer first given for ``key`` by this caller, if the key was used."""
    async with sessions() as session:
        earlier = await session.get(IdempotencyKey, (caller_id, key))
    if earlier is None:
        return None
    if earlier.request_hash != digest:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request")
    return api.Notification.model_validate_json(earlier.response)


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
    final = counters.add(connection, {user: (n, n, n) for user, n in per_user.items()})
    now, created, events = utcnow(), [], []
    for item in batch:
        user = item.request.notifiable_id
        per_user[user] -= 1  # now: this user's creates later in the batch
        stats = api.Stats(
            total=final[user].total - per_user[user],
            unread=final[user].unread - per_user[user],
            read=final[user].read,
            unseen=final[user].unseen - per_user[user],
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
    connection.execute(insert(TABLE), [_row(n) for n in created])
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


def _row(notification: api.Notification) -> dict[str, object]:
    return {
        "id": notification.id,
        "user_id": notification.notifiable_id,
        "type": notification.type,
        "data": notification.data,
        "read_at": None,
        "created_at": notification.created_at,
    }

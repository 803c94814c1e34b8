"""``AsyncNotificationsClient``: the asyncio twin of :class:`NotificationsClient`.

Same methods, same guarantees, awaitable; ``list`` and ``events`` are async
iterators. The token callable may be a coroutine function.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import httpx

from qahub_contracts.api import Notification, Preferences, ReplacePreferences, Stats, Suppressed
from qahub_notify_client import _rest
from qahub_notify_client._auth import AsyncToken
from qahub_notify_client._base_client import BaseClient
from qahub_notify_client._errors import QaHubError
from qahub_notify_client._rest import Call, Status
from qahub_notify_client._stream import AsyncEventStream, StreamSession, afollow

__all__ = ["AsyncNotificationsClient"]

T = TypeVar("T")


class AsyncNotificationsClient(BaseClient):
    """A user's or a service's door to QaHub Notifications, over HTTP, for asyncio.

    See :class:`NotificationsClient`; use it with ``async with`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        api_url: str,
        token: AsyncToken,
        *,
        stream_url: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(api_url, token, stream_url=stream_url, timeout=timeout, retries=retries)
        self._http = httpx.AsyncClient(base_url=api_url, auth=self._auth, timeout=timeout)

    async def send(
        self,
        to: str,
        type: str,
        data: str | dict[str, Any],
        idempotency_key: str | None = None,
        *,
        critical: bool = False,
    ) -> Notification | Suppressed:
        """Create a notification for user ``to``; retried like :meth:`NotificationsClient.send`."""
        call = _rest.create(to, type, data, idempotency_key, critical=critical)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._call(call)
            except QaHubError as error:
                delay = self._backoff.delay(attempt, error)
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    async def get(self, id: UUID | str) -> Notification:
        """One of the caller's notifications (:class:`NotFound` otherwise)."""
        return await self._call(_rest.get(id))

    async def stats(self) -> Stats:
        """The caller's exact ``total``, ``unread`` and ``read`` counts."""
        return await self._call(_rest.stats())

    async def mark_read(self, id: UUID | str, *, read: bool = True) -> Notification:
        """Mark one notification read (or unread); returns it updated."""
        return await self._call(_rest.mark_read(id, read=read))

    async def update(
        self,
        id: UUID | str,
        *,
        read: bool | None = None,
        seen: bool | None = None,
        archived: bool | None = None,
    ) -> Notification:
        """See :meth:`NotificationsClient.update`."""
        return await self._call(_rest.update(id, read=read, seen=seen, archived=archived))

    async def mark_seen(self, ids: Iterable[UUID | str] | None = None) -> int:
        """See :meth:`NotificationsClient.mark_seen`."""
        return await self._call(_rest.mark_seen(ids))

    async def archive(self, ids: Iterable[UUID | str]) -> int:
        """See :meth:`NotificationsClient.archive`."""
        return await self._call(_rest.archive(ids))

    async def preferences(self) -> Preferences:
        """See :meth:`NotificationsClient.preferences`."""
        return await self._call(_rest.preferences())

    async def set_preferences(self, preferences: Preferences | ReplacePreferences) -> Preferences:
        """See :meth:`NotificationsClient.set_preferences`."""
        return await self._call(_rest.put_preferences(preferences))

    async def mark_all_read(self, ids: Iterable[UUID | str] | None = None) -> int:
        """Mark ``ids`` (every unread one when ``None``) read; returns how many changed."""
        return await self._call(_rest.mark_all_read(ids))

    async def delete(self, id: UUID | str) -> None:
        """Delete one notification."""
        await self._call(_rest.delete(id))

    async def delete_many(self, ids: Iterable[UUID | str]) -> int:
        """Delete ``ids``; returns how many were deleted."""
        return await self._call(_rest.delete_many(ids))

    def events(
        self, last_event_id: str | None = None, *, reconnect: bool = True, idle_timeout: float = 90
    ) -> AsyncEventStream:
        """The caller's stream as an async iterator; see :meth:`NotificationsClient.events`."""
        timeout = self._stream_timeout(idle_timeout)
        session = StreamSession(last_event_id, reconnect=reconnect)
        return AsyncEventStream(afollow(self._http, self._stream_url, session, timeout), session)

    async def list(self, status: Status = "all") -> AsyncIterator[Notification]:
        """The caller's notifications, newest first, following ``nextCursor`` page by page."""
        cursor: str | None = None
        while True:
            page = await self._call(_rest.page(status, cursor))
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _call(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.RequestError as exc:
            raise _rest.transport_error(exc) from exc
        return call.read(response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

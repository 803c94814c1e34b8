"""``NotificationsClient``: the blocking client of the REST API and the stream (DESIGN §10)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import httpx

from qahub_contracts.api import Notification, Preferences, ReplacePreferences, Stats, Suppressed
from qahub_notify_client import _rest
from qahub_notify_client._auth import Token
from qahub_notify_client._base_client import BaseClient
from qahub_notify_client._errors import QaHubError
from qahub_notify_client._rest import Call, Status
from qahub_notify_client._stream import EventStream, StreamSession, follow

__all__ = ["NotificationsClient"]

T = TypeVar("T")


class NotificationsClient(BaseClient):
    """A user's or a service's door to QaHub Notifications, over HTTP.

    ``api_url`` is the API's base URL; ``stream_url`` the relay's (default: the
    same origin, as behind ``qahub-notify dev`` or the compose gateway). ``token``
    is a bearer token or a callable returning one (see ``events``). Every method
    raises a :class:`QaHubError` subclass when the server refuses or cannot be
    reached. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_url: str,
        token: Token,
        *,
        stream_url: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(api_url, token, stream_url=stream_url, timeout=timeout, retries=retries)
        self._http = httpx.Client(base_url=api_url, auth=self._auth, timeout=timeout)

    def send(
        self,
        to: str,
        type: str,
        data: str | dict[str, Any],
        idempotency_key: str | None = None,
        *,
        critical: bool = False,
    ) -> Notification | Suppressed:
        """Create a notification for user ``to``; safe to call again with the same key.

        Returns :class:`Suppressed` (nothing created) when ``to`` turned this type off,
        unless ``critical`` (a token with the publish scope only: DESIGN §13).

        Timeouts, lost connections, 429 (after its ``Retry-After``) and 5xx answers are
        retried with the same Idempotency-Key (a fresh one when none is given), so
        one call creates at most one notification.
        """
        call = _rest.create(to, type, data, idempotency_key, critical=critical)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(call)
            except QaHubError as error:
                delay = self._backoff.delay(attempt, error)
                if delay is None:
                    raise
            time.sleep(delay)

    def get(self, id: UUID | str) -> Notification:
        """One of the caller's notifications (:class:`NotFound` otherwise)."""
        return self._call(_rest.get(id))

    def stats(self) -> Stats:
        """The caller's exact ``total``, ``unread`` and ``read`` counts."""
        return self._call(_rest.stats())

    def mark_read(self, id: UUID | str, *, read: bool = True) -> Notification:
        """Mark one notification read (or unread); returns it updated."""
        return self._call(_rest.mark_read(id, read=read))

    def update(
        self,
        id: UUID | str,
        *,
        read: bool | None = None,
        seen: bool | None = None,
        archived: bool | None = None,
    ) -> Notification:
        """Set any of read, seen, archived on one notification; returns it updated."""
        return self._call(_rest.update(id, read=read, seen=seen, archived=archived))

    def mark_seen(self, ids: Iterable[UUID | str] | None = None) -> int:
        """Mark ``ids`` (every unseen one when ``None``) seen; returns how many changed."""
        return self._call(_rest.mark_seen(ids))

    def archive(self, ids: Iterable[UUID | str]) -> int:
        """Archive ``ids``; returns how many were not archived before."""
        return self._call(_rest.archive(ids))

    def preferences(self) -> Preferences:
        """The caller's delivery preferences."""
        return self._call(_rest.preferences())

    def set_preferences(self, preferences: Preferences | ReplacePreferences) -> Preferences:
        """Replace the caller's delivery preferences; returns them as stored."""
        return self._call(_rest.put_preferences(preferences))

    def mark_all_read(self, ids: Iterable[UUID | str] | None = None) -> int:
        """Mark ``ids`` (every unread one when ``None``) read; returns how many changed."""
        return self._call(_rest.mark_all_read(ids))

    def delete(self, id: UUID | str) -> None:
        """Delete one notification."""
        self._call(_rest.delete(id))

    def delete_many(self, ids: Iterable[UUID | str]) -> int:
        """Delete ``ids``; returns how many were deleted."""
        return self._call(_rest.delete_many(ids))

    def events(
        self, last_event_id: str | None = None, *, reconnect: bool = True, idle_timeout: float = 90
    ) -> EventStream:
        """The caller's stream, resumed after ``last_event_id``; runs until you close it.

        Each event is yielded once, ``data`` parsed from JSON; heartbeats are not
        events. When the stream ends (relay restart, token expiry, network) it
        reconnects after the relay's ``retry:`` interval (doubled after each failed
        attempt, up to 30 s) with ``Last-Event-ID``, asking a token callable for a
        fresh token; a connection silent for ``idle_timeout`` seconds counts as lost.
        429 and 5xx answers are retried; a 401 after a renewed token, or any other
        refusal, raises. ``reconnect=False`` follows one connection only.
        The returned :class:`EventStream` knows ``last_event_id`` to resume from.
        """
        timeout = self._stream_timeout(idle_timeout)
        session = StreamSession(last_event_id, reconnect=reconnect)
        return EventStream(follow(self._http, self._stream_url, session, timeout), session)

    def list(self, status: Status = "all") -> Iterator[Notification]:
        """The caller's notifications, newest first, following ``nextCursor`` page by page."""
        cursor: str | None = None
        while True:
            page = self._call(_rest.page(status, cursor))
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _call(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.request(self._http))
        except httpx.RequestError as exc:
            raise _rest.transport_error(exc) from exc
        return call.read(response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

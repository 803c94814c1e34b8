"""``events()``: a user's SSE stream (DESIGN §5) that survives reconnects, on httpx-sse.

Guarantees, for the sync and the asyncio reader alike:

- each event is yielded once, with ``data`` parsed from JSON; heartbeat comments,
  ``retry:``-only and id-only frames are not events;
- when the stream ends (relay restart, token expiry, network) it reconnects after
  the server's ``retry:`` interval, doubled after each failed attempt up to 30 s,
  sending ``Last-Event-ID``: the relay replays what was missed, and an id seen
  before is dropped should the relay replay it again;
- every connect asks the token callable for a token, and a 401 asks it once more
  (see ``_auth``); a second 401 raises :class:`Unauthorized`;
- 429 and 5xx answers and lost connections are retried; any other refusal raises.

With ``reconnect=False`` the reader follows one connection only: it returns when
the stream ends and raises :class:`Unavailable` when the connection fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse, connect_sse

from qahub_notify_client._errors import (
    RateLimited,
    Unavailable,
    error_from_response,
    retry_after_seconds,
)
from qahub_notify_client._rest import transport_error

__all__ = ["AsyncEventStream", "EventStream", "StreamEvent", "StreamSession", "afollow", "follow"]

log = logging.getLogger("qahub_notify_client.stream")

DEFAULT_RETRY_SECONDS: Final = 3.0
MAX_DELAY_SECONDS: Final = 30.0
_SEEN_IDS: Final = 4096


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One SSE event: its name, its id (only events that are logged have one), its data."""

    event: str
    id: str | None
    data: Any


def _parse(data: str) -> Any:  # noqa: ANN401 - whatever JSON the event carries
    try:
        return json.loads(data)
    except ValueError:
        return data


class StreamSession:
    """What survives a reconnect: the last id, the server's ``retry:``, failures, seen ids."""

    def __init__(self, last_event_id: str | None, *, reconnect: bool = True) -> None:
        self.last_event_id = last_event_id
        self.reconnect = reconnect
        self.retry = DEFAULT_RETRY_SECONDS
        self.failures = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._sticky_id = ""

    def headers(self) -> dict[str, str]:
        """Request headers of the next connect."""
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    def opened(self) -> None:
        """A connection answered 200: a new frame parser starts."""
        self._sticky_id = ""

    def accept(self, sse: ServerSentEvent) -> StreamEvent | None:
        """The event to yield for ``sse``, or ``None`` for what is not one."""
        if sse.retry is not None:
            self.retry = sse.retry / 1000
        # httpx-sse repeats the last id on later events without one (the WHATWG
        # "last event ID"); an event has its own id only where it changes.
        own_id = sse.id if sse.id and sse.id != self._sticky_id else None
        self._sticky_id = sse.id
        if own_id is not None:
            self.last_event_id = own_id
        if not sse.data or (own_id is not None and self._seen_before(own_id)):
            return None
        if sse.event == "connected":
            self.failures = 0
        return StreamEvent(sse.event, own_id, _parse(sse.data))

    def _seen_before(self, event_id: str) -> bool:
        if event_id in self._seen:
            return True
        self._seen[event_id] = None
        if len(self._seen) > _SEEN_IDS:
            self._seen.popitem(last=False)
        return False

    def delay(self, reason: str) -> float:
        """Seconds before the next connect after an end or a failure (logged with ``reason``)."""
        self.failures += 1
        delay = min(MAX_DELAY_SECONDS, self.retry * 2.0 ** min(self.failures - 1, 5))
        since = f" after {self.last_event_id}" if self.last_event_id else ""
        log.info("%s; reconnecting in %.1f s%s", reason, delay, since)
        return delay

    def refused(self, response: httpx.Response) -> float:
        """Seconds before retrying a non-200 answer (already read).

        Raises:
            QaHubError: for an answer that retrying will not change (401 after a
                renewed token, 403, 404...), or any refusal without ``reconnect``.
        """
        error = error_from_response(response)
        if not self.reconnect or not (
            isinstance(error, RateLimited) or response.status_code >= 500
        ):
            raise error
        hint = retry_after_seconds(response)  # 429, and a relay shedding load (503)
        delay = self.delay(f"the relay answered HTTP {response.status_code}")
        return max(delay, min(hint or 0.0, MAX_DELAY_SECONDS))

    def failed(self, exc: Exception) -> float:
        """Seconds before reconnecting after a lost connection.

        Raises:
            Unavailable: without ``reconnect``.
        """
        if not self.reconnect:
            if isinstance(exc, httpx.RequestError):
                raise transport_error(exc) from exc
            raise Unavailable(f"stream broken: {exc}", code="unavailable") from exc
        return self.delay(f"stream interrupted: {type(exc).__name__}")


_LOST: Final = (httpx.RequestError, httpx.StreamError, SSEError)


def follow(
    http: httpx.Client, url: str, session: StreamSession, timeout: httpx.Timeout
) -> Generator[StreamEvent, None, None]:
    """The stream's events across reconnects (blocking)."""
    while True:
        try:
            with connect_sse(http, "GET", url, headers=session.headers(), timeout=timeout) as src:
                if src.response.status_code != 200:
                    src.response.read()
                    delay = session.refused(src.response)
                else:
                    session.opened()
                    for sse in src.iter_sse():
                        if (event := session.accept(sse)) is not None:
                            yield event
                    if not session.reconnect:
                        return
                    delay = session.delay("stream ended")
        except _LOST as exc:
            delay = session.failed(exc)
        time.sleep(delay)


async def afollow(
    http: httpx.AsyncClient, url: str, session: StreamSession, timeout: httpx.Timeout
) -> AsyncGenerator[StreamEvent, None]:
    """The stream's events across reconnects (asyncio twin of :func:`follow`)."""
    while True:
        try:
            async with aconnect_sse(
                http, "GET", url, headers=session.headers(), timeout=timeout
            ) as src:
                if src.response.status_code != 200:
                    await src.response.aread()
                    delay = session.refused(src.response)
                else:
                    session.opened()
                    async for sse in src.aiter_sse():
                        if (event := session.accept(sse)) is not None:
                            yield event
                    if not session.reconnect:
                        return
                    delay = session.delay("stream ended")
        except _LOST as exc:
            delay = session.failed(exc)
        await asyncio.sleep(delay)


class EventStream:
    """What ``events()`` returns: an iterator of events that knows the stream's position.

    ``last_event_id`` is the id to resume from (it also advances on id-only frames,
    which are not events); ``close()`` (or ``with``) ends the connection.
    """

    def __init__(self, events: Generator[StreamEvent, None, None], session: StreamSession) -> None:
        self._events = events
        self._session = session

    @property
    def last_event_id(self) -> str | None:
        return self._session.last_event_id

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def close(self) -> None:
        self._events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncEventStream:
    """The asyncio twin of :class:`EventStream` (``aclose()``, ``async with``)."""

    def __init__(self, events: AsyncGenerator[StreamEvent, None], session: StreamSession) -> None:
        self._events = events
        self._session = session

    @property
    def last_event_id(self) -> str | None:
        return self._session.last_event_id

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        return await anext(self._events)

    async def aclose(self) -> None:
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

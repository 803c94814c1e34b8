"""``Inbox``: one user's live stream, recorded, with assertions over what arrived."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Self

from qahub_notify.testing._record import Record

if TYPE_CHECKING:
    from qahub_notify_client import Notification, StreamEvent

__all__ = ["EventSource", "Inbox"]

EventSource = Callable[[], AsyncIterator["StreamEvent"]]
"""Opens the user's stream: every event across reconnects, until cancelled."""

_CONNECT_TIMEOUT_SECONDS = 15.0


class Inbox:
    """A connected subscriber of one user's stream, reading in a background thread.

    ``notifications`` holds the notifications created while the inbox is open, in
    arrival order, once each (the ``recent`` snapshot of older unread ones is in
    ``events`` only, so a stack shared by several tests does not hand one test another's
    notification). Everything an inbox started stops in :meth:`close`.
    """

    def __init__(self, user: str, source: EventSource) -> None:
        self.user = user
        self._source = source
        self._record = Record()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"qahub-inbox-{user}", daemon=True)

    def open(self) -> Self:
        """Start reading; returns once the relay sent its snapshot (what follows is live).

        A notification created before the snapshot is only listed in ``recent``: waiting
        for it is what lets a test create right after opening and see the creation.

        Raises:
            AssertionError: the stream did not open (the relay's refusal, or a timeout).
        """
        self._record = Record()
        self._thread.start()
        self._record.wait(lambda: self._record.live or None, _CONNECT_TIMEOUT_SECONDS)
        if not self._record.connected:
            self.close()
            failure = self._record.failure
            reason = repr(failure) if failure else f"nothing within {_CONNECT_TIMEOUT_SECONDS}s"
            raise AssertionError(f"inbox of user {self.user!r} did not connect: {reason}")
        return self

    @property
    def events(self) -> list[StreamEvent]:
        """Every event received so far (``connected``, ``stats``, ``recent`` included)."""
        with self._record.changed:
            return list(self._record.events)

    @property
    def notifications(self) -> list[Notification]:
        """Notifications created while the inbox was open, in arrival order."""
        return self._record.arrived()

    def wait_for(
        self,
        type: str | None = None,  # noqa: A002 - the contract's name (DESIGN §10)
        data: object = None,
        timeout: float = 10,
    ) -> Notification:
        """The first notification that matches, among those arrived or arriving in ``timeout``.

        ``type`` must be equal; ``data`` must be equal, or, for a dict, a subset of the
        notification's data (``{"invoice": 1}`` matches ``{"invoice": 1, "total": 5}``).

        Raises:
            AssertionError: nothing matched in time; the message names what was awaited
                and lists every notification that did arrive.
        """

        def match() -> Notification | None:
            candidates = self._record.notifications.values()
            return next((n for n in candidates if _matches(n, type, data)), None)

        if (found := self._record.wait(match, timeout)) is not None:
            return found
        failure = self._record.failure
        broken = f" (the stream failed: {failure!r})" if failure else ""
        raise AssertionError(
            f"user {self.user!r} received no notification {_describe(type, data)} within "
            f"{timeout}s{broken}; {_listing(self._record.arrived())}"
        )

    def assert_no_notification(self, within: float = 1.0) -> None:
        """Wait ``within`` seconds; fail if any notification reached the inbox since it opened.

        Raises:
            AssertionError: listing what arrived.
        """
        if self._record.wait(lambda: list(self._record.notifications.values()) or None, within):
            arrived = _listing(self._record.arrived())
            raise AssertionError(f"user {self.user!r} expected no notification; {arrived}")
        if (failure := self._record.failure) is not None:
            msg = f"user {self.user!r}: cannot tell, the stream failed: {failure!r}"
            raise AssertionError(msg)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Stop reading and end the stream (idempotent)."""
        self._stop.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive():
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        asyncio.run(self._read())

    async def _read(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop.is_set():  # closed before the loop existed
            return
        try:
            async for event in self._source():
                self._record.take(event)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - handed to the waiting test as its failure
            self._record.fail(exc)


def _matches(notification: Notification, kind: str | None, data: object) -> bool:
    if kind is not None and notification.type != kind:
        return False
    if data is None:
        return True
    if isinstance(data, dict) and isinstance(notification.data, dict):
        return all(notification.data.get(k, _MISSING) == v for k, v in data.items())
    return bool(notification.data == data)


_MISSING = object()


def _describe(kind: str | None, data: object) -> str:
    parts = [f"type={kind!r}"] if kind is not None else []
    if data is not None:
        parts.append(f"data={'containing ' if isinstance(data, dict) else ''}{data!r}")
    return f"with {' and '.join(parts)}" if parts else "at all"


def _listing(arrived: list[Notification]) -> str:
    if not arrived:
        return "nothing arrived"
    lines = [f"  - type={n.type!r} data={n.data!r} (id {n.id})" for n in arrived]
    return f"{len(arrived)} arrived:\n" + "\n".join(lines)

"""What one inbox's stream delivered, kept in order, and waits on it from the test's thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from qahub_notify_client import Notification, StreamEvent

__all__ = ["Record"]

T = TypeVar("T")


class Record:
    """Events in arrival order and the notifications created since the record began.

    The stream is written by the reader's thread and read by the test's: every access
    holds one condition, notified on each event, so a wait wakes as soon as it can.
    """

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.events: list[StreamEvent] = []
        self.notifications: dict[str, Notification] = {}
        self.failure: BaseException | None = None
        self.connected = False
        self.live = False  # the first snapshot is in: every later creation arrives as itself
        self._recovered = False
        self.began = datetime.now(UTC)

    def take(self, event: StreamEvent) -> None:
        """Record ``event``: ``notification`` frames, and after a reconnect the relay could
        not replay, the ``recent`` ones created since the record began (what was missed)."""
        from qahub_contracts.api import Notification  # noqa: PLC0415 - keeps plugin load cheap

        with self.changed:
            self.events.append(event)
            if event.event == "connected":
                self.connected = True
                self._recovered = isinstance(event.data, dict) and bool(event.data.get("recovered"))
            elif event.event == "recent" or (event.event == "stats" and self._recovered):
                if self.live and event.event == "recent":
                    self._take_missed(event.data)
                self.live = True
            elif event.event == "notification":
                self._add(Notification.model_validate(event.data))
            self.changed.notify_all()

    def fail(self, failure: BaseException) -> None:
        """The stream ended for good: waits stop and say why."""
        with self.changed:
            self.failure = failure
            self.changed.notify_all()

    def wait(self, found: Callable[[], T | None], timeout: float) -> T | None:
        """``found()`` once it is not ``None``, or ``None`` after ``timeout`` or a failure."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while (result := found()) is None and self.failure is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.wait(remaining)
            return result

    def arrived(self) -> list[Notification]:
        with self.changed:
            return list(self.notifications.values())

    def _add(self, notification: Notification) -> None:
        self.notifications.setdefault(str(notification.id), notification)

    def _take_missed(self, recent: object) -> None:
        from qahub_contracts.api import RecentNotifications  # noqa: PLC0415 - as above

        for notification in RecentNotifications.model_validate(recent).notifications:
            if notification.created_at >= self.began:
                self._add(notification)

"""The REST calls of DESIGN §4: what each client method sends and how its answer is read.

The sync and asyncio clients share these: each method builds a :class:`Call`,
the client sends it with its own transport, and :meth:`Call.read` turns the
response into the result or raises the mapped :class:`QaHubError`. Retrying
(only ``send``) follows :class:`Backoff`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Literal, TypeVar
from uuid import UUID

import httpx

from qahub_contracts.api import (
    Notification,
    NotificationPage,
    Preferences,
    ReplacePreferences,
    Stats,
    Suppressed,
)
from qahub_contracts.topology import IDEMPOTENCY_KEY_HEADER
from qahub_notify_client._errors import (
    QaHubError,
    RateLimited,
    Unavailable,
    error_from_response,
)

__all__ = [
    "NOTIFICATIONS",
    "STREAM",
    "Backoff",
    "Call",
    "Status",
    "archive",
    "create",
    "delete",
    "delete_many",
    "get",
    "mark_all_read",
    "mark_read",
    "mark_seen",
    "page",
    "preferences",
    "put_preferences",
    "stats",
    "transport_error",
    "update",
]

NOTIFICATIONS: Final = "/api/v1/notifications"
STREAM: Final = "/api/v1/notifications/stream"
PAGE_SIZE: Final = 100

Status = Literal["all", "unread", "read", "archived"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and the reader of its successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request to send with ``http`` (its base URL, auth and timeout apply)."""
        return http.build_request(
            self.method, self.path, json=self.json, params=self.params, headers=self.headers
        )

    def read(self, response: httpx.Response) -> T:
        """The result of a 2xx ``response``.

        Raises:
            QaHubError: the subclass for the response's status.
        """
        if not response.is_success:
            raise error_from_response(response)
        return self.parse(response)


def _notification(response: httpx.Response) -> Notification:
    return Notification.model_validate_json(response.content)


def _page(response: httpx.Response) -> NotificationPage:
    return NotificationPage.model_validate_json(response.content)


def _count(name: str) -> Callable[[httpx.Response], int]:
    return lambda response: int(response.json()[name])


def _nothing(_: httpx.Response) -> None:
    return None


def _created(response: httpx.Response) -> Notification | Suppressed:
    """201: the notification; 200: suppressed by the recipient's preferences (DESIGN §13)."""
    if response.status_code == 200:
        return Suppressed.model_validate_json(response.content)
    return _notification(response)


def create(
    to: str,
    type_: str,
    data: str | dict[str, Any],
    idempotency_key: str | None,
    *,
    critical: bool = False,
) -> Call[Notification | Suppressed]:
    """``POST /notifications`` with an Idempotency-Key (a fresh uuid when none is given)."""
    body: dict[str, Any] = {"type": type_, "notifiableType": "user", "notifiableId": to}
    body["data"] = data
    if critical:
        body["critical"] = True
    key = idempotency_key or str(uuid.uuid4())
    return Call("POST", NOTIFICATIONS, _created, body, headers={IDEMPOTENCY_KEY_HEADER: key})


def page(status: Status, cursor: str | None) -> Call[NotificationPage]:
    params = {"status": status, "limit": str(PAGE_SIZE)}
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", NOTIFICATIONS, _page, None, params)


def get(id_: UUID | str) -> Call[Notification]:
    return Call("GET", f"{NOTIFICATIONS}/{id_}", _notification)


def stats() -> Call[Stats]:
    return Call("GET", f"{NOTIFICATIONS}/stats", lambda r: Stats.model_validate_json(r.content))


def mark_read(id_: UUID | str, *, read: bool) -> Call[Notification]:
    return Call("PATCH", f"{NOTIFICATIONS}/{id_}", _notification, {"read": read})


def update(
    id_: UUID | str, *, read: bool | None, seen: bool | None, archived: bool | None
) -> Call[Notification]:
    """``PATCH`` with the states given (read implies seen: DESIGN §13)."""
    changes = {"read": read, "seen": seen, "archived": archived}
    body = {name: value for name, value in changes.items() if value is not None}
    return Call("PATCH", f"{NOTIFICATIONS}/{id_}", _notification, body)


def mark_seen(ids: Iterable[UUID | str] | None) -> Call[int]:
    body = {} if ids is None else {"ids": [str(i) for i in ids]}
    return Call("POST", f"{NOTIFICATIONS}/seen", _count("updated"), body)


def archive(ids: Iterable[UUID | str]) -> Call[int]:
    body = {"ids": [str(i) for i in ids]}
    return Call("POST", f"{NOTIFICATIONS}/archive", _count("archived"), body)


def _preferences(response: httpx.Response) -> Preferences:
    return Preferences.model_validate_json(response.content)


def preferences() -> Call[Preferences]:
    return Call("GET", f"{NOTIFICATIONS}/preferences", _preferences)


def put_preferences(new: Preferences | ReplacePreferences) -> Call[Preferences]:
    return Call("PUT", f"{NOTIFICATIONS}/preferences", _preferences, new.model_dump(mode="json"))


def mark_all_read(ids: Iterable[UUID | str] | None) -> Call[int]:
    body = {} if ids is None else {"ids": [str(i) for i in ids]}
    return Call("POST", f"{NOTIFICATIONS}/read", _count("updated"), body)


def delete(id_: UUID | str) -> Call[None]:
    return Call("DELETE", f"{NOTIFICATIONS}/{id_}", _nothing)


def delete_many(ids: Iterable[UUID | str]) -> Call[int]:
    body = {"ids": [str(i) for i in ids]}
    return Call("POST", f"{NOTIFICATIONS}/delete", _count("deleted"), body)


@dataclass(frozen=True, slots=True)
class Backoff:
    """When ``send`` tries again: timeouts, no answer, 429 and 5xx, at most ``retries`` times.

    The delay doubles from ``base`` up to ``cap`` seconds, with jitter; a
    ``Retry-After`` longer than that is honoured up to ``max_retry_after`` seconds (a
    longer one is not waited for: the error is raised at once).
    """

    retries: int = 3
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: QaHubError) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or ``None`` to give up with ``error``."""
        if attempt > self.retries or not isinstance(error, RateLimited | Unavailable):
            return None
        backoff = min(self.cap, self.base * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
        hint = error.retry_after if isinstance(error, RateLimited) else None
        if hint is None:
            return backoff
        return max(backoff, hint) if hint <= self.max_retry_after else None


def transport_error(exc: httpx.RequestError) -> Unavailable:
    """``Unavailable`` for a request that got no (readable) answer: refused, reset, timed out."""
    return Unavailable(f"no answer: {type(exc).__name__}: {exc}", code="unavailable")

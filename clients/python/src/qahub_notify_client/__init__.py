"""QaHub Notifications' Python client (DESIGN §10).

HTTP: :class:`NotificationsClient` and :class:`AsyncNotificationsClient` (REST and
the SSE stream). Broker: :class:`CommandSender` and :class:`AsyncCommandSender`
publish commands over RabbitMQ; they need the ``commands`` extra
(``qahub-notify-client[commands]``, which adds aio-pika) and are imported on first
use, so the HTTP client never loads the broker's stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qahub_contracts.api import Notification, Preferences, Stats, Suppressed
from qahub_notify_client._async_client import AsyncNotificationsClient
from qahub_notify_client._client import NotificationsClient
from qahub_notify_client._errors import (
    Forbidden,
    NotFound,
    QaHubError,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from qahub_notify_client._stream import AsyncEventStream, EventStream, StreamEvent

if TYPE_CHECKING:
    from qahub_notify_client._commands import AsyncCommandSender, CommandSender

__all__ = [
    "AsyncCommandSender",
    "AsyncEventStream",
    "AsyncNotificationsClient",
    "CommandSender",
    "EventStream",
    "Forbidden",
    "NotFound",
    "Notification",
    "NotificationsClient",
    "Preferences",
    "QaHubError",
    "RateLimited",
    "Stats",
    "StreamEvent",
    "Suppressed",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]

_COMMANDS = frozenset({"AsyncCommandSender", "CommandSender"})


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a class from the optional extra
    if name in _COMMANDS:
        try:
            from qahub_notify_client import _commands  # noqa: PLC0415 - the commands extra
        except ModuleNotFoundError as exc:
            msg = f"{name} needs aio-pika: pip install 'qahub-notify-client[commands]'"
            raise ImportError(msg) from exc
        return getattr(_commands, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)

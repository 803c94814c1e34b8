"""REST payloads of the notifications API (DESIGN §4), read by both services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import orjson
from pydantic import AfterValidator, Field, StringConstraints

from qahub_contracts._model import TolerantModel, WireModel

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_IDS",
    "BulkDelete",
    "BulkRead",
    "CreateNotification",
    "DeletedCount",
    "DeletedNotification",
    "ErrorBody",
    "ErrorDetail",
    "MarkRead",
    "Notification",
    "NotificationData",
    "NotificationPage",
    "RecentNotifications",
    "Snapshot",
    "Stats",
    "StreamConnected",
    "UpdatedCount",
]

MAX_DATA_BYTES: Final = 16 * 1024
"""Largest encoded ``data`` a notification may carry (DESIGN §4)."""

MAX_IDS: Final = 1000
"""Most ids a bulk request may name."""


def _data_within_limit(value: str | dict[str, Any]) -> str | dict[str, Any]:
    try:
        encoded = value.encode() if isinstance(value, str) else orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError, UnicodeEncodeError):
        # e.g. an integer beyond 64 bits (found by schemathesis), or a lone surrogate
        msg = "data must be JSON-encodable (integers within 64 bits, valid Unicode)"
        raise ValueError(msg) from None
    if len(encoded) > MAX_DATA_BYTES:
        msg = f"data is {len(encoded)} bytes encoded; the limit is {MAX_DATA_BYTES}"
        raise ValueError(msg)
    return value


NotificationData = Annotated[str | dict[str, Any], AfterValidator(_data_within_limit)]
"""A notification's ``data``: a string or a JSON object, at most 16 KiB encoded."""

TypeName = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
UserId = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class Notification(TolerantModel):
    """One notification as the API returns it and the stream delivers it."""

    id: UUID
    type: str
    notifiable_type: Literal["user"] = "user"
    notifiable_id: str
    data: str | dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class CreateNotification(WireModel):
    """Body of ``POST /api/v1/notifications``."""

    type: TypeName
    notifiable_type: Literal["user"]
    notifiable_id: Annotated[UserId, Field(coerce_numbers_to_str=True)]
    data: NotificationData


class MarkRead(WireModel):
    """Body of ``PATCH /api/v1/notifications/{id}``."""

    read: bool


class BulkRead(WireModel):
    """Body of ``POST /api/v1/notifications/read``; no ``ids`` marks every unread one."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)] | None = None


class BulkDelete(WireModel):
    """Body of ``POST /api/v1/notifications/delete``."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)]


class Stats(TolerantModel):
    """A user's counters: exact, maintained in the same transaction as each change."""

    total: int
    unread: int
    read: int


class NotificationPage(TolerantModel):
    """One page of a listing, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[Notification]
    next_cursor: str | None


class UpdatedCount(TolerantModel):
    updated: int


class DeletedCount(TolerantModel):
    deleted: int


class DeletedNotification(TolerantModel):
    """Data of the ``notification.deleted`` SSE event."""

    id: UUID


class RecentNotifications(TolerantModel):
    """Data of the ``recent`` SSE event: up to ten unread notifications."""

    notifications: list[Notification]


class StreamConnected(TolerantModel):
    """Data of the ``connected`` SSE event, the first of every stream (DESIGN §5)."""

    client_id: str
    user_id: str
    timestamp: datetime
    recovered: bool


class Snapshot(TolerantModel):
    """``GET /api/v1/notifications/snapshot``: the caller's ``stats`` and newest unread
    notifications (``recent``, newest first), read together: what a stream opens with."""

    stats: Stats
    recent: list[Notification]


class ErrorDetail(TolerantModel):
    code: str
    message: str


class ErrorBody(TolerantModel):
    """The one JSON shape of every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail

"""REST payloads of the notifications API (DESIGN §4), read by both services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import orjson
from pydantic import AfterValidator, Field, StrictBool, StringConstraints, model_validator

from qahub_contracts._model import TolerantModel, WireModel
from qahub_contracts.text import check_document, check_text

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_IDS",
    "MAX_PREFERENCE_TYPES",
    "ArchivedCount",
    "BulkArchive",
    "BulkDelete",
    "BulkRead",
    "BulkSeen",
    "ChannelSettings",
    "CreateNotification",
    "DeletedCount",
    "DeletedNotification",
    "ErrorBody",
    "ErrorDetail",
    "MarkRead",
    "Notification",
    "NotificationData",
    "NotificationPage",
    "Preferences",
    "RecentNotifications",
    "ReplacePreferences",
    "Snapshot",
    "Stats",
    "StreamConnected",
    "Suppressed",
    "UpdateNotification",
    "UpdatedCount",
]

MAX_DATA_BYTES: Final = 16 * 1024
"""Largest encoded ``data`` a notification may carry (DESIGN §4)."""

MAX_IDS: Final = 1000
"""Most ids a bulk request may name."""

MAX_PREFERENCE_TYPES: Final = 500
"""Most notification types one user's preferences may name."""


def _data_within_limit(value: str | dict[str, Any]) -> str | dict[str, Any]:
    check_document(value)  # NUL, lone surrogates, depth: before the encoder sees them
    try:
        encoded = value.encode() if isinstance(value, str) else orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError, UnicodeEncodeError):
        # e.g. an integer beyond 64 bits (found by schemathesis)
        msg = "data must be JSON-encodable (integers within 64 bits, valid Unicode)"
        raise ValueError(msg) from None
    if len(encoded) > MAX_DATA_BYTES:
        msg = f"data is {len(encoded)} bytes encoded; the limit is {MAX_DATA_BYTES}"
        raise ValueError(msg)
    return value


NotificationData = Annotated[str | dict[str, Any], AfterValidator(_data_within_limit)]
"""A notification's ``data``: a string or a JSON object, at most 16 KiB encoded and
:data:`~qahub_contracts.text.MAX_DATA_DEPTH` deep, every string storable (no NUL)."""

TypeName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, strip_whitespace=True),
    AfterValidator(check_text),
]
# pydantic refuses lone surrogates in a str field; the pattern refuses NUL.
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
    # DESIGN §13; an older API's notification has neither (readers take ``None``).
    seen_at: datetime | None = None
    archived_at: datetime | None = None


class CreateNotification(WireModel):
    """Body of ``POST /api/v1/notifications``.

    ``critical`` (publish scope only) delivers it whatever the recipient's
    preferences; left out of the JSON when false, so a body's digest (the
    Idempotency-Key's check) is what it was before the field existed.
    """

    type: TypeName
    notifiable_type: Literal["user"]
    notifiable_id: Annotated[UserId, Field(coerce_numbers_to_str=True)]
    data: NotificationData
    critical: Annotated[bool, Field(exclude_if=lambda critical: not critical)] = False


class UpdateNotification(WireModel):
    """Body of ``PATCH /api/v1/notifications/{id}``: any of ``read``, ``seen``, ``archived``.

    Read implies seen: ``read: true`` marks it seen too, ``seen: false`` marks it
    unread too, and asking for both ``read: true`` and ``seen: false`` is refused.
    """

    read: bool | None = None
    seen: bool | None = None
    archived: bool | None = None

    @model_validator(mode="after")
    def _one_change_that_holds_together(self) -> UpdateNotification:
        if self.read is None and self.seen is None and self.archived is None:
            msg = "give at least one of read, seen, archived"
            raise ValueError(msg)
        if self.read is True and self.seen is False:
            msg = "a read notification is seen: read true with seen false contradicts"
            raise ValueError(msg)
        return self


MarkRead = UpdateNotification
"""The PATCH body's earlier name (``{read}`` only, before DESIGN §13)."""


class BulkRead(WireModel):
    """Body of ``POST /api/v1/notifications/read``; no ``ids`` marks every unread one."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)] | None = None


class BulkDelete(WireModel):
    """Body of ``POST /api/v1/notifications/delete``."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)]


class BulkSeen(WireModel):
    """Body of ``POST /api/v1/notifications/seen``; no ``ids`` marks every unseen one."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)] | None = None


class BulkArchive(WireModel):
    """Body of ``POST /api/v1/notifications/archive``."""

    ids: Annotated[list[UUID], Field(max_length=MAX_IDS)]


class Stats(TolerantModel):
    """A user's counters: exact, maintained in the same transaction as each change.

    Archived notifications count in none of them. ``unseen`` (DESIGN §13) is
    ``unread`` when the writer did not send it: before "seen" existed, every
    unread notification was an unseen one.
    """

    total: int
    unread: int
    read: int
    unseen: int

    @model_validator(mode="before")
    @classmethod
    def _unseen_defaults_to_unread(cls, data: Any) -> Any:  # noqa: ANN401 - pydantic's input
        if isinstance(data, dict) and "unseen" not in data and "unread" in data:
            return {**data, "unseen": data["unread"]}
        return data


class NotificationPage(TolerantModel):
    """One page of a listing, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[Notification]
    next_cursor: str | None


class UpdatedCount(TolerantModel):
    updated: int


class DeletedCount(TolerantModel):
    deleted: int


class ArchivedCount(TolerantModel):
    archived: int


class Suppressed(TolerantModel):
    """The answer to a create that the recipient's preferences turned off: nothing was
    stored or sent (DESIGN §13)."""

    suppressed: Literal[True] = True
    reason: Literal["preference"] = "preference"


class ChannelSettings(TolerantModel):
    """Where notifications of one type (or, as ``default``, of every type) are delivered."""

    in_app: bool = True


class Preferences(TolerantModel):
    """``GET /api/v1/notifications/preferences``: a user's delivery preferences.

    A type named in ``types`` follows its own settings, any other ``default``.
    """

    default: ChannelSettings = ChannelSettings()
    types: dict[str, ChannelSettings] = Field(default_factory=dict)

    def delivers(self, type_: str) -> bool:
        """Whether a (non-critical) notification of ``type_`` reaches the user in the app."""
        return self.types.get(type_, self.default).in_app


class _StrictChannelSettings(WireModel):
    in_app: StrictBool


class ReplacePreferences(WireModel):
    """Body of ``PUT /api/v1/notifications/preferences``: the whole new preferences."""

    default: _StrictChannelSettings = _StrictChannelSettings(in_app=True)
    types: Annotated[
        dict[TypeName, _StrictChannelSettings],
        Field(default_factory=dict, max_length=MAX_PREFERENCE_TYPES),
    ]

    def to_preferences(self) -> Preferences:
        return Preferences.model_validate(self.model_dump())


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

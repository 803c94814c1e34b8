"""REST routes of DESIGN §4 and §13: thin handlers over the use cases."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from notifications_api.dependencies import CurrentUser, NotificationsDep, PreferencesDep
from notifications_api.errors import NotFound
from notifications_api.rows import Status
from qahub_contracts.api import (
    ArchivedCount,
    BulkArchive,
    BulkDelete,
    BulkRead,
    BulkSeen,
    CreateNotification,
    DeletedCount,
    ErrorBody,
    Notification,
    NotificationPage,
    Preferences,
    ReplacePreferences,
    Snapshot,
    Stats,
    Suppressed,
    UpdatedCount,
    UpdateNotification,
)

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=_ERRORS)

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


def _notification_id(raw: str) -> uuid.UUID:
    """Path ids that are not UUIDs name no notification: 404, like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("notification not found") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Notification,
    responses={200: {"model": Suppressed, "description": "the recipient turned this type off"}},
)
async def create_notification(
    body: CreateNotification,
    caller: CurrentUser,
    notifications: NotificationsDep,
    idempotency_key: IdempotencyKey = None,
) -> Notification | Response:
    """201 and the notification, or 200 and ``Suppressed`` (sent as it is): the response
    model is ``Notification`` alone, as validating every create's answer against the
    union of both cost ~7 µs a create (docs/performance.md, "Preference lookup")."""
    created = await notifications.create(caller, body, idempotency_key)
    if isinstance(created, Suppressed):
        return Response(created.model_dump_json(by_alias=True), media_type="application/json")
    return created


@router.get("")
async def list_notifications(
    caller: CurrentUser,
    notifications: NotificationsDep,
    status: Status = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> NotificationPage:
    return await notifications.page(caller.user_id, status, limit, cursor)


@router.get("/stats")
async def notification_stats(caller: CurrentUser, notifications: NotificationsDep) -> Stats:
    return await notifications.stats(caller.user_id)


@router.get("/snapshot")
async def notification_snapshot(
    caller: CurrentUser,
    notifications: NotificationsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Snapshot:
    """``{stats, recent}``: the caller's counters and newest unread notifications."""
    return await notifications.snapshot(caller.user_id, limit)


@router.post("/read")
async def mark_read(
    caller: CurrentUser, notifications: NotificationsDep, body: BulkRead | None = None
) -> UpdatedCount:
    ids = body.ids if body is not None else None
    return UpdatedCount(updated=await notifications.mark_all_read(caller.user_id, ids))


@router.post("/seen")
async def mark_seen(
    caller: CurrentUser, notifications: NotificationsDep, body: BulkSeen | None = None
) -> UpdatedCount:
    ids = body.ids if body is not None else None
    return UpdatedCount(updated=await notifications.mark_seen(caller.user_id, ids))


@router.post("/archive")
async def archive(
    body: BulkArchive, caller: CurrentUser, notifications: NotificationsDep
) -> ArchivedCount:
    return ArchivedCount(archived=await notifications.archive(caller.user_id, body.ids))


@router.get("/preferences")
async def get_preferences(caller: CurrentUser, preferences: PreferencesDep) -> Preferences:
    """The caller's own delivery preferences."""
    return await preferences.get(caller.user_id)


@router.put("/preferences")
async def put_preferences(
    body: ReplacePreferences, caller: CurrentUser, preferences: PreferencesDep
) -> Preferences:
    """Replace the caller's own delivery preferences (never another user's)."""
    return await preferences.replace(caller.user_id, body)


@router.post("/delete")
async def delete_many(
    body: BulkDelete, caller: CurrentUser, notifications: NotificationsDep
) -> DeletedCount:
    return DeletedCount(deleted=await notifications.delete_many(caller.user_id, body.ids))


@router.get("/{notification_id}")
async def get_notification(
    notification_id: str, caller: CurrentUser, notifications: NotificationsDep
) -> Notification:
    return await notifications.get(caller.user_id, _notification_id(notification_id))


@router.patch("/{notification_id}")
async def update_notification(
    notification_id: str,
    body: UpdateNotification,
    caller: CurrentUser,
    notifications: NotificationsDep,
) -> Notification:
    return await notifications.update(caller.user_id, _notification_id(notification_id), body)


@router.delete("/{notification_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_notification(
    notification_id: str, caller: CurrentUser, notifications: NotificationsDep
) -> Response:
    await notifications.delete(caller.user_id, _notification_id(notification_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)

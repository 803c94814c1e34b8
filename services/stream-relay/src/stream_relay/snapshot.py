"""The caller's current counters and unread notifications, from the notifications API.

Used when a connect cannot be recovered from the replay index (DESIGN §5, §6).
The relay calls the API with the caller's own token, so the API's own
authorization decides what the caller sees.

Guarantee: never raises for an unreachable or failing API; the missing part is
``None`` and the stream goes on without it (logged, one line).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final, TypeVar

import httpx
from pydantic import ValidationError

from qahub_contracts.api import Notification, NotificationPage, Stats

__all__ = ["RECENT_LIMIT", "Snapshot", "SnapshotClient"]

log = logging.getLogger("stream_relay.snapshot")

M = TypeVar("M", Stats, NotificationPage)

RECENT_LIMIT: Final = 10
_STATS_PATH: Final = "/api/v1/notifications/stats"
_LIST_PATH: Final = "/api/v1/notifications"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the API said; a part is ``None`` when the API could not answer it."""

    stats: Stats | None
    recent: list[Notification] | None


class SnapshotClient:
    """Fetches :class:`Snapshot` s over one pooled HTTP client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def fetch(self, token: str) -> Snapshot:
        """``stats`` and up to ten unread notifications, fetched concurrently."""
        headers = {"Authorization": f"Bearer {token}"}
        stats, page = await asyncio.gather(
            self._get(_STATS_PATH, headers, None),
            self._get(_LIST_PATH, headers, {"status": "unread", "limit": str(RECENT_LIMIT)}),
        )
        return Snapshot(
            stats=_parse(Stats, stats),
            recent=(p.items if (p := _parse(NotificationPage, page)) else None),
        )

    async def _get(
        self, path: str, headers: dict[str, str], params: dict[str, str] | None
    ) -> bytes | None:
        try:
            response = await self._http.get(path, headers=headers, params=params)
        except httpx.HTTPError as exc:
            log.warning("notifications API unreachable for %s: %s", path, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("notifications API answered %d for %s", response.status_code, path)
            return None
        return response.content


def _parse(model: type[M], body: bytes | None) -> M | None:
    if body is None:
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError:
        log.warning("notifications API sent an unexpected %s body", model.__name__)
        return None

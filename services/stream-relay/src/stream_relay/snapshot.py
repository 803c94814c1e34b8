"""The caller's current counters and unread notifications, from the notifications API.

Used when a connect cannot be recovered from the replay index (DESIGN §5, §6).
The relay calls the API with the caller's own token, so the API's own
authorization decides what the caller sees.

Guarantees:
- one request per snapshot, ``GET /api/v1/notifications/snapshot``; an API
  that does not know it yet (404: an older release during a rolling upgrade)
  gets the two older GETs (``/stats``, then the unread page) from then on;
- at most ``concurrency`` requests at a time over one keep-alive pool of that
  size (aiohttp: ADR 0006 says why not httpx); the others wait their turn in
  arrival order, each for at most ``wait_seconds`` (then it gives up: no snapshot);
- after :data:`TRIP_AFTER` failures in a row (unreachable, timed out, 5xx) the
  API is taken for down for :data:`COOLDOWN_SECONDS`: snapshots fail at once
  instead of queueing behind timeouts, and the next one after the pause tries
  again. A 4xx (a token the API refuses, a rate limit) is that caller's
  failure, not the API's;
- never raises for an unreachable or failing API: the missing part is
  ``None`` and the stream goes on without it (logged, one line);
- the ``recent`` frame carries the notifications as the API wrote them: a field
  a newer API added reaches the browser through this relay (DESIGN §11).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, TypeVar
from uuid import UUID

import aiohttp
import orjson
from pydantic import ValidationError

from qahub_contracts.api import Notification, NotificationPage, RecentNotifications, Stats
from qahub_contracts.api import Snapshot as SnapshotBody
from stream_relay import sse

__all__ = [
    "COOLDOWN_SECONDS",
    "MISSING",
    "RECENT_LIMIT",
    "TRIP_AFTER",
    "Snapshot",
    "SnapshotClient",
]

log = logging.getLogger("stream_relay.snapshot")

M = TypeVar("M", Stats, NotificationPage, SnapshotBody)

RECENT_LIMIT: Final = 10
TRIP_AFTER: Final = 3
COOLDOWN_SECONDS: Final = 1.0
_SNAPSHOT_PATH: Final = "/api/v1/notifications/snapshot"
_STATS_PATH: Final = "/api/v1/notifications/stats"
_LIST_PATH: Final = "/api/v1/notifications"


@dataclass(frozen=True)
class Snapshot:
    """What the API said; a part is ``None`` when the API could not answer it.

    Shared by every stream of the user that may use it, so the ``recent``
    frame and its ids are made once.
    """

    stats: Stats | None
    recent: list[Notification] | None
    recent_wire: list[Any] | None = None  # ``recent`` as the API's JSON had it
    stats_wire: dict[str, Any] | None = None  # ``stats`` as the API's JSON had it

    @property
    def complete(self) -> bool:
        return self.stats is not None and self.recent is not None

    @cached_property
    def stats_frame(self) -> bytes:
        """The ``stats`` SSE frame (empty when the API did not answer it)."""
        return sse.stats_frame(self.stats, self.stats_wire) if self.stats is not None else b""

    @cached_property
    def recent_frame(self) -> bytes:
        """The ``recent`` SSE frame (empty when the API did not answer it)."""
        if self.recent is None:
            return b""
        if self.recent_wire is not None:
            body = orjson.dumps({"notifications": self.recent_wire}).decode()
        else:
            body = RecentNotifications(notifications=self.recent).model_dump_json(by_alias=True)
        return sse.encode_frame(body, event="recent")

    @cached_property
    def recent_ids(self) -> frozenset[UUID]:
        return frozenset(n.id for n in self.recent or ())


MISSING: Final = Snapshot(None, None)


class SnapshotClient:
    """Fetches :class:`Snapshot` s over one pooled HTTP client (see the module docstring)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        concurrency: int,
        wait_seconds: float = 15.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._slots = asyncio.Semaphore(concurrency)
        self._wait = wait_seconds
        self._combined = True  # the API serves /snapshot (until it answers 404)
        self._failures = 0
        self._down_until = 0.0
        self.requests = 0  # requests sent to the API (a scrape reads it)

    @staticmethod
    def session(concurrency: int, timeout_seconds: float) -> aiohttp.ClientSession:
        """The pooled session this client should get: at most ``concurrency`` keep-alive
        connections, each request bounded by ``timeout_seconds``, no proxy from the
        environment, no cookie jar (each request carries its caller's token only)."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )

    def api_down(self) -> bool:
        """Whether the API is taken for down (failures in a row, for a short pause)."""
        return time.monotonic() < self._down_until

    async def fetch(self, token: str, on_send: Callable[[], None] | None = None) -> Snapshot:
        """The caller's snapshot; ``on_send`` is called right before the request goes out."""
        if self.api_down():
            return MISSING
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            log.warning("no snapshot: waited %.1fs for a free API connection", self._wait)
            return MISSING
        try:
            if self.api_down():
                return MISSING
            if on_send is not None:
                on_send()
            return await self._request({"Authorization": f"Bearer {token}"})
        finally:
            self._slots.release()

    async def _request(self, headers: dict[str, str]) -> Snapshot:
        if self._combined:
            status, body = await self._get(_SNAPSHOT_PATH, headers, None)
            if status != 404:
                answer = _parse(SnapshotBody, body)
                if answer is None:
                    return MISSING
                wire = _wire_object(body)
                return Snapshot(
                    answer.stats,
                    answer.recent,
                    recent_wire=_list(wire.get("recent")),
                    stats_wire=_dict(wire.get("stats")),
                )
            log.info("the notifications API has no %s; using /stats and the list", _SNAPSHOT_PATH)
            self._combined = False
        _, stats = await self._get(_STATS_PATH, headers, None)
        params = {"status": "unread", "limit": str(RECENT_LIMIT)}
        _, page = await self._get(_LIST_PATH, headers, params)
        listed = _parse(NotificationPage, page)
        counters = _parse(Stats, stats)
        return Snapshot(
            stats=counters,
            recent=listed.items if listed else None,
            recent_wire=_list(_wire_object(page).get("items")) if listed else None,
            stats_wire=_dict(_wire_object(stats)) if counters else None,
        )

    async def _get(
        self, path: str, headers: dict[str, str], params: dict[str, str] | None
    ) -> tuple[int, bytes | None]:
        self.requests += 1
        try:
            async with self._http.get(self._base + path, headers=headers, params=params) as answer:
                status = answer.status
                read = await answer.read()  # read in full: the connection goes back to the pool
            body = read if status == 200 else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed()
            log.warning("notifications API unreachable for %s: %s", path, type(exc).__name__)
            return 0, None
        if status >= 500:
            self._failed()
        else:
            self._failures = 0
        if status not in {200, 404}:
            log.warning("notifications API answered %d for %s", status, path)
        return status, body

    def _failed(self) -> None:
        self._failures += 1
        if self._failures >= TRIP_AFTER:
            self._down_until = time.monotonic() + COOLDOWN_SECONDS


def _wire_object(body: bytes | None) -> dict[str, Any]:
    """A body already validated, as written (empty if it is not an object: the frames
    are then encoded from the models)."""
    try:
        value = orjson.loads(body) if body is not None else None
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _dict(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _parse(model: type[M], body: bytes | None) -> M | None:
    if body is None:
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError:
        log.warning("notifications API sent an unexpected %s body", model.__name__)
        return None

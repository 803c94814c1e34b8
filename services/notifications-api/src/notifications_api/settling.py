"""Removing confirmed outbox rows, off the publish path.

After a confirm the dispatcher hands the row ids to :class:`Settling`, which
deletes them in batches on the :class:`~notifications_api.database.Writer`
while publishing goes on. Until its delete has committed an id stays in
:attr:`Settling.confirmed`, and every read of pending rows skips a copy of that
set taken *before* the read: a row deleted meanwhile left the set only after
its delete committed, so the read either misses the row or skips it. Nothing
is published twice by this; a crash before the delete republishes (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from typing import Final

from notifications_api import outbox
from notifications_api.database import Writer

__all__ = ["Settling"]

log = logging.getLogger("notifications_api.settling")

_RETRY_SECONDS: Final = 0.2


class Settling:
    """Confirmed ids not deleted yet, and the task that deletes them."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self.confirmed: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def add(self, ids: Iterable[int]) -> None:
        """Remember confirmed ids and make sure they are being deleted."""
        self.confirmed.update(ids)
        if self.confirmed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._settle(), name="outbox-settle")

    async def wait(self) -> None:
        """Until every id handed over so far is deleted (or deleting gave up on stop)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Finish what is deleting now; rows left stay pending and are republished later."""
        self._stopping = True
        with contextlib.suppress(Exception):
            await self.wait()

    async def _settle(self) -> None:
        while self.confirmed:
            batch = list(self.confirmed)
            try:
                await self._writer.run(functools.partial(outbox.remove, ids=batch))
            except Exception as exc:  # noqa: BLE001 - rows stay; republished if we stop now
                log.warning(
                    "deleting confirmed outbox rows failed: %s: %s", type(exc).__name__, exc
                )
                if self._stopping:
                    return
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            self.confirmed.difference_update(batch)

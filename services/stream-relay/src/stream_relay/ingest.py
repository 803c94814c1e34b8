"""Ingest: a new message of the log decoded once, indexed and copied to local disk.

Guarantees:
- a message is decoded once, as far as needed: while catching up a quick
  orjson read (user, eventId, occurredAt), the full validation waiting until
  the event is first replayed or fanned out; once caught up, or when its user
  has an open stream, the full validation at once, so a live event that is
  not valid is parked before any connection sees it;
- a message that is not a usable event is *parked*: logged, counted
  (``stream_relay_parked_events_total{reason}``), kept in a bounded list
  (``/readyz``) and skipped. A ``schemaVersion`` this release does not know (a
  newer producer's major version, DESIGN §11) is logged once per version, not
  once per message: during an upgrade those can be every event. It is still
  acked: never a reject or nack (DESIGN §8);
- a republished ``eventId`` of the same user is dropped (counted): neither
  indexed, nor copied, nor fanned out;
- every indexed event goes to the local copy (``RELAY_STATE_DIR``), in
  offset order.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

from stream_relay.amqp_frames import Delivery
from stream_relay.catch_up import CatchUp
from stream_relay.fanout import ConnectionRegistry
from stream_relay.indexed_event import IndexedEvent, Unusable
from stream_relay.local_log import LocalLog
from stream_relay.metrics import RelayMetrics
from stream_relay.replay import ReplayIndex

__all__ = ["Ingest", "ParkedMessage"]

log = logging.getLogger("stream_relay.consumer")

_MAX_PARKED: Final = 100


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A stream message the relay could not use; kept (bounded) for inspection."""

    offset: int
    reason: str
    message_id: str | None


class Ingest:
    """Turns new deliveries into indexed events (see the module docstring)."""

    def __init__(
        self,
        index: ReplayIndex,
        registry: ConnectionRegistry,
        metrics: RelayMetrics,
        catch_up: CatchUp,
        local: LocalLog | None,
    ) -> None:
        self._index = index
        self._registry = registry
        self._metrics = metrics
        self._catch_up = catch_up
        self._local = local
        self.lag_seconds = 0.0  # the age of the latest event when it was read
        self.parked: deque[ParkedMessage] = deque(maxlen=_MAX_PARKED)
        self._versions_logged: set[str] = set()
        index.on_invalid = lambda entry, exc: self.park(entry.offset, exc, entry.key)

    def take(self, offset: int, fingerprint: str, delivery: Delivery) -> IndexedEvent | None:
        """Index the message at ``offset``; ``None`` when it was parked or a duplicate.

        The entry comes back validated (:meth:`IndexedEvent.hold`) when its user
        has an open stream, ready to be fanned out.
        """
        try:
            entry = IndexedEvent.from_body(offset, delivery.body)
            self.lag_seconds = max(0.0, time.time() - entry.happened_at)
            self._catch_up.event_age(self.lag_seconds)
            if self._catch_up.caught_up.is_set() or self._registry.count(entry.user_id):
                entry.hold()  # validate now: a live event is parked at once, never indexed
        except Unusable as exc:
            self.park(offset, exc, delivery.message_id)
            return None
        if self._index.add(entry) is None:
            self._metrics.duplicates.inc()
            entry.release()
            return None
        if self._local is not None:
            self._local.append(entry, fingerprint)
        return entry

    def park(self, offset: int, why: Unusable, message_id: str | None) -> None:
        """Log, count and keep a message that is not a usable event; it is skipped."""
        reason = why.reason
        self.parked.append(ParkedMessage(offset, reason, message_id))
        self._metrics.parked.labels(reason=reason).inc()
        if why.version is None:
            log.warning("parked stream message at offset %d: %s", offset, reason)
        elif why.version not in self._versions_logged and len(self._versions_logged) < _MAX_PARKED:
            self._versions_logged.add(why.version)
            log.warning(
                "parked stream message at offset %d: schemaVersion %s is not one this relay "
                "reads (a newer producer? upgrade the relays); further messages of that "
                "version are counted in stream_relay_parked_events_total, not logged",
                offset,
                why.version,
            )

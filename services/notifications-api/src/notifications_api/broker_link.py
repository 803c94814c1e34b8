"""The dispatcher's link to RabbitMQ: connected on demand, down the moment it closes.

:meth:`BrokerLink.publisher` connects when there is no open connection
(declaring the topology again, so a removed binding heals). The connection's
close callback (:class:`~notifications_api.publisher.Publisher`) marks the
link down at once (``broker_connected`` 0, ``/readyz`` 503) and calls
``on_lost`` so the dispatcher reconnects without waiting for a publish to fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from aio_pika.exceptions import PublishError

from notifications_api.metrics import ApiMetrics
from notifications_api.publisher import Publisher
from notifications_api.settings import ApiSettings

__all__ = ["BrokerLink"]

log = logging.getLogger("notifications_api.outbox")

_CLOSE_TIMEOUT: Final = 2.0


class BrokerLink:
    """At most one open :class:`Publisher`; its state is ``broker_connected``."""

    def __init__(
        self, settings: ApiSettings, metrics: ApiMetrics, on_lost: Callable[[], None]
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._on_lost = on_lost
        self._publisher: Publisher | None = None

    @property
    def connected(self) -> bool:
        """True while the connection is open (false as soon as it closes)."""
        return self._publisher is not None and self._publisher.is_open

    async def publisher(self) -> Publisher:
        """The open publisher, connecting first if needed.

        Raises:
            Any of :data:`~notifications_api.publisher.PUBLISH_ERRORS`: no node answers.
        """
        if self._publisher is None or not self._publisher.is_open:
            self._publisher = await Publisher.connect(
                self._settings.broker_endpoints,
                max_age=self._settings.event_log_max_age,
                replicas=self._settings.event_log_replicas,
                on_lost=self._lost,
            )
            self._metrics.broker_up.set(1)
            log.info("connected to RabbitMQ")
        return self._publisher

    def _lost(self, reason: BaseException | None) -> None:
        self._metrics.broker_up.set(0)
        log.warning("connection to RabbitMQ lost (%s); reconnecting", reason or "closed")
        self._on_lost()

    async def failed(self, error: BaseException) -> None:
        """A publish or a connect failed: count it, say it once, drop the connection."""
        reason = "unroutable" if isinstance(error, PublishError) else type(error).__name__
        self._metrics.publish_failures.labels(reason).inc()
        log.warning("publish failed (%s); events stay pending and are retried", reason)
        await self.close()

    async def close(self) -> None:
        publisher, self._publisher = self._publisher, None
        self._metrics.broker_up.set(0)
        if publisher is not None:
            await publisher.close(_CLOSE_TIMEOUT)

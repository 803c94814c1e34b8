"""The parts of one running relay, born together in the lifespan and closed together.

Start-up order: metrics, index, registry, the per-event pipeline (with the
local copy), HTTP client, consumer (which starts reading the log in the
background), the shared heartbeat timer. Shutdown is
the reverse, and first ends every open stream so clients reconnect to another
instance.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from qahub_contracts.auth import TokenVerifier
from stream_relay.consumer import StreamConsumer
from stream_relay.fanout import ConnectionRegistry
from stream_relay.local_log import LocalLog
from stream_relay.metrics import RelayMetrics
from stream_relay.overload import LoopLag
from stream_relay.pipeline import Pipeline
from stream_relay.replay import ReplayIndex
from stream_relay.session import SessionConfig
from stream_relay.settings import RelaySettings
from stream_relay.snapshot import SnapshotClient
from stream_relay.snapshot_cache import SnapshotCache
from stream_relay.sse_response import Heartbeats

__all__ = ["Relay", "running_relay"]

log = logging.getLogger("stream_relay")

_SNAPSHOT_USERS = 10_000  # users whose latest snapshot is kept for reuse


@dataclass(frozen=True, slots=True)
class Relay:
    """Everything a request handler of this relay may use."""

    settings: RelaySettings
    verifier: TokenVerifier
    metrics: RelayMetrics
    index: ReplayIndex
    registry: ConnectionRegistry
    consumer: StreamConsumer
    snapshots: SnapshotCache
    session_config: SessionConfig
    loop_lag: LoopLag

    def stop_streams(self) -> None:
        """Refuse new streams and end the open ones (idempotent)."""
        if not self.registry.closing:
            log.info("closing %d open streams", self.registry.total)
        self.registry.closing = True
        self.registry.close_all("shutdown")


@asynccontextmanager
async def running_relay(settings: RelaySettings) -> AsyncIterator[Relay]:
    """Build and start a relay; on exit, end its streams and close its connections."""
    metrics = RelayMetrics()
    index = ReplayIndex(
        max_per_user=settings.replay_max_events_per_user,
        max_age_seconds=settings.replay_max_age_seconds,
    )
    registry = ConnectionRegistry(
        max_per_user=settings.max_streams_per_user,
        max_queued=settings.client_queue_size,
        on_slow=metrics.slow_clients.inc,
    )
    metrics.watch_connections(lambda: registry.total)
    metrics.watch_index(lambda: len(index))
    pipeline = Pipeline(index=index, registry=registry, metrics=metrics, local=_local_log(settings))
    consumer = StreamConsumer(
        endpoints=settings.broker_endpoints,
        replicas=settings.event_log_replicas,
        max_age=settings.event_log_max_age,
        prefetch=settings.consumer_prefetch,
        pipeline=pipeline,
        metrics=metrics,
    )
    heartbeats = Heartbeats(settings.sse_heartbeat_seconds)
    concurrency = settings.api_concurrency
    async with SnapshotClient.session(concurrency, settings.api_timeout_seconds) as http:
        snapshots = SnapshotCache(
            SnapshotClient(http, settings.notifications_api_url, concurrency=concurrency),
            index,
            reuse_seconds=settings.snapshot_reuse_seconds,
            max_users=_SNAPSHOT_USERS,
            registry=metrics.registry,
        )
        relay = Relay(
            settings=settings,
            verifier=settings.token_verifier(),
            metrics=metrics,
            index=index,
            registry=registry,
            consumer=consumer,
            snapshots=snapshots,
            session_config=SessionConfig(
                settings.sse_heartbeat_seconds,
                settings.sse_retry_ms,
                heartbeats,
                retry_jitter=settings.sse_retry_jitter,
            ),
            loop_lag=LoopLag(settings.shed_lag_seconds),
        )
        consumer.start()
        heartbeats.start()
        relay.loop_lag.start()
        try:
            yield relay
        finally:
            relay.stop_streams()
            snapshots.close()
            await relay.loop_lag.stop()
            await heartbeats.stop()
            await consumer.stop()


def _local_log(settings: RelaySettings) -> LocalLog | None:
    """The local copy of the index in ``RELAY_STATE_DIR``, if set and usable."""
    if settings.relay_state_dir is None:
        return None
    try:
        return LocalLog.open(
            settings.relay_state_dir, max_age_seconds=settings.replay_max_age_seconds
        )
    except OSError as exc:
        log.error(  # noqa: TRY400 - one line: the relay works on, only restarts are slower
            "RELAY_STATE_DIR %s unusable (%s); running without a local log",
            settings.relay_state_dir,
            exc.strerror or type(exc).__name__,
        )
        return None

"""Prometheus metrics of one relay, on a registry of its own (no global state).

Each app instance owns a :class:`prometheus_client.CollectorRegistry`, so
several relays can live in one process (tests) without name clashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["PlainCounter", "RelayMetrics"]

_REPLAY_BUCKETS = (0, 1, 5, 10, 50, 100, 500, 1000, 5000)


class PlainCounter(Collector):
    """A counter bumped as a plain ``value += n`` (no lock): one per event per stream.

    Only the event loop's thread changes it; a scrape reads it.
    """

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.value = 0
        self._name = name
        self._documentation = documentation
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self._name, self._documentation, value=self.value)


class RelayMetrics:
    """Every metric the relay exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge(
            "stream_relay_connections", "Open SSE connections on this relay", registry=r
        )
        self.events_delivered = PlainCounter(
            "stream_relay_events_delivered",
            "Events written to SSE clients (live and replay)",
            registry=r,
        )
        self.replays = Counter(
            "stream_relay_replays", "Reconnects answered, by outcome", ["recovered"], registry=r
        )
        self.not_recovered = Counter(
            "stream_relay_not_recovered",
            "Connects answered recovered=false, by reason",
            ["reason"],
            registry=r,
        )
        self.replay_size = Histogram(
            "stream_relay_replay_events",
            "Events replayed per recovered reconnect",
            buckets=_REPLAY_BUCKETS,
            registry=r,
        )
        self.slow_clients = Counter(
            "stream_relay_slow_clients_dropped",
            "Streams closed because their queue overflowed",
            registry=r,
        )
        self.parked = Counter(
            "stream_relay_parked_events",
            "Stream messages skipped as undecodable",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "stream_relay_duplicate_events",
            "Stream messages whose eventId was already indexed",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "stream_relay_consumer_lag_seconds",
            "Age of the latest event when this relay processed it",
            registry=r,
        )
        self.consumer_offset = Gauge(
            "stream_relay_consumer_offset",
            "Stream offset of the latest processed message",
            registry=r,
        )
        self.consumer_up = Gauge(
            "stream_relay_consumer_up", "1 while subscribed to the event log", registry=r
        )
        self.consumer_restarts = Counter(
            "stream_relay_consumer_restarts",
            "Reconnects of the stream consumer, by cause",
            ["cause"],
            registry=r,
        )
        self.streams_shed = Counter(
            "stream_relay_streams_shed",
            "New streams answered 503 overloaded while the event loop ran late",
            registry=r,
        )
        self.indexed_events = Gauge(
            "stream_relay_indexed_events", "Events held in the replay index", registry=r
        )

    def watch_connections(self, total: Callable[[], int]) -> None:
        """Read the open-connection gauge from the registry at scrape time."""
        self.connections.set_function(lambda: float(total()))

    def watch_index(self, size: Callable[[], int]) -> None:
        """Read the index-size gauge at scrape time."""
        self.indexed_events.set_function(lambda: float(size()))

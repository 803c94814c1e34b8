"""Prometheus metrics of one API instance, in a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ApiMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


@dataclass
class ApiMetrics:
    """Requests, commands, outbox depth, publish latency and failures."""

    registry: CollectorRegistry = field(default_factory=_registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "http_requests", "HTTP requests served", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_pending = Gauge(
            "outbox_pending_events", "Outbox events waiting for a broker confirm", registry=r
        )
        self.published = Counter(
            "outbox_published_events", "Events confirmed by the broker", registry=r
        )
        self.publish_failures = Counter(
            "outbox_publish_failures",
            "Publishes that failed and stay pending",
            ["reason"],
            registry=r,
        )
        self.publish_seconds = Histogram(
            "outbox_publish_latency_seconds",
            "From commit to broker confirm",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.broker_up = Gauge("broker_connected", "1 while connected to RabbitMQ", registry=r)
        self.commands = Counter(
            "commands",
            "Commands handled: created, or dead_lettered with the error code",
            ["outcome", "code"],
            registry=r,
        )
        self.commands_paused = Gauge(
            "commands_paused", "1 while command consumption waits for the database", registry=r
        )
        self.dispatcher_leader = Gauge(
            "outbox_dispatcher_active", "1 while this instance dispatches the outbox", registry=r
        )

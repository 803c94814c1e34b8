"""Liveness, readiness, metrics and unknown routes of the API."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error
from tests.support.servers import eventually

URL = "/api/v1/notifications"


class TestOperations:
    """Liveness, readiness and metrics."""

    async def test_healthz(self, api: Api):
        assert (await api.http.get("/healthz")).status_code == 200

    async def test_readyz_reports_database_broker_and_outbox(self, api: Api):
        async def ready() -> bool:
            return (await api.http.get("/readyz")).status_code == 200

        await eventually(ready, timeout=10, what="readyz 200")
        body = (await api.http.get("/readyz")).json()
        assert body["database"] == "ok"
        assert body["broker"] == "ok"
        assert body["outbox"]["pending"] >= 0

    async def test_metrics_expose_requests_and_outbox(self, api: Api):
        await api.create("42")
        text = (await api.http.get("/metrics")).text
        for name in (
            "http_requests_total",
            "outbox_pending_events",
            "outbox_publish_latency_seconds",
            "outbox_publish_failures_total",
        ):
            assert name in text

    async def test_unknown_route_gets_json_404(self, api: Api):
        assert_error(await api.http.get("/nope"), 404)
        assert_error(await api.http.put(URL, headers=api.service()), 405)

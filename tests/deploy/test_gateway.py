"""The gateway (deploy/nginx.conf): routes like `qahub-notify dev`, safe for SSE and tokens."""

from __future__ import annotations

import re

import pytest
from tests.deploy.compose import (
    RELAYS,
    SERVICES,
    environment,
)
from tests.deploy.nginx_conf import HTTP, NGINX, route, setting, upstream_servers

from qahub_notify.single_origin import is_relay_path


class TestGateway:
    """nginx sends the stream and the demo page to the relays, the rest to the API."""

    PATHS = (
        "/",
        "/static/app.css",
        "/api/v1/notifications/stream",
        "/api/v1/notifications/stream/connections",
        "/api/v1/notifications",
        "/api/v1/notifications/stats",
        "/api/v1/notifications/0b9c/read",
        "/healthz",
        "/readyz",
        "/metrics",
    )

    @pytest.mark.parametrize("path", PATHS)
    def test_routes_like_qahub_notify_dev(self, path: str):
        relay = is_relay_path(path)
        expected = "http://stream_relays" if relay else "http://notifications_api"
        assert setting(route(path), "proxy_pass") == expected

    def test_both_relays_are_upstreams_and_the_api_is_the_other(self):
        assert upstream_servers("stream_relays") == [f"{r}:8001" for r in RELAYS]
        assert upstream_servers("notifications_api") == ["notifications-api:8000"]

    def test_the_stream_is_sse_safe(self):
        stream = route("/api/v1/notifications/stream")
        assert setting(stream, "proxy_buffering") == "off"
        assert setting(stream, "proxy_cache") == "off"
        assert setting(stream, "gzip") == "off"
        assert setting(stream, "proxy_http_version") == "1.1"
        read_timeout = setting(stream, "proxy_read_timeout") or "60s"
        heartbeat = float(environment("stream-relay-1")["SSE_HEARTBEAT_SECONDS"])
        assert int(read_timeout.removesuffix("s")) >= 10 * heartbeat

    def test_no_log_line_can_carry_a_token(self):
        (log_format,) = HTTP.all("log_format")
        fields = " ".join(log_format.args[1:])
        assert not re.search(r"\$(request|request_uri|args|arg_token|query_string)\b", fields)
        assert HTTP.value("access_log") == f"/dev/stdout {log_format.args[0]}"
        assert NGINX.value("error_log") == "/dev/stderr crit"

    def test_the_compose_mount_is_this_file(self):
        assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["gateway"]["volumes"]

"""Settings validation (stream_relay.settings)."""

from __future__ import annotations

import pytest

from stream_relay.settings import ConfigError, load_settings, max_age_seconds

SECRET = "relay-test-secret-0123456789abcdefghijklmnop"


class TestSettings:
    def test_defaults_follow_the_design(self, monkeypatch):
        for name in [
            "SSE_HEARTBEAT_SECONDS",
            "SSE_RETRY_MS",
            "MAX_STREAMS_PER_USER",
            "EVENT_LOG_MAX_AGE",
            "NOTIFICATIONS_API_URL",
        ]:
            monkeypatch.delenv(name, raising=False)
        settings = load_settings(jwt_secret=SECRET)
        assert settings.sse_heartbeat_seconds == 30
        assert settings.sse_retry_ms == 3000
        assert settings.max_streams_per_user == 10
        assert settings.event_log_max_age == "24h"
        assert settings.notifications_api_url == "http://127.0.0.1:8000"

    def test_default_index_replays_a_client_that_missed_1000_events(self, monkeypatch):
        """Issue 5: the last event seen and 1,000 missed ones all fit in one user's index."""
        monkeypatch.delenv("REPLAY_MAX_EVENTS_PER_USER", raising=False)
        assert load_settings(jwt_secret=SECRET).replay_max_events_per_user > 1000

    def test_environment_is_read(self, monkeypatch):
        monkeypatch.setenv("JWT_SECRET", SECRET)
        monkeypatch.setenv("SSE_HEARTBEAT_SECONDS", "1")
        assert load_settings().sse_heartbeat_seconds == 1

    @pytest.mark.parametrize(
        ("overrides", "line"),
        [
            ({"sse_retry_ms": -1}, "SSE_RETRY_MS: "),
            ({"jwt_secret": None}, "JWT_SECRET: set exactly one of"),
            ({"jwt_public_key": "not a pem"}, "JWT_SECRET: set exactly one of"),
            ({"notifications_api_url": "ftp://x"}, "NOTIFICATIONS_API_URL: must start with"),
        ],
    )
    def test_errors_name_the_variable_in_one_line(self, monkeypatch, overrides, line):
        monkeypatch.delenv("JWT_SECRET", raising=False)
        with pytest.raises(ConfigError) as error:
            load_settings(**{"jwt_secret": SECRET, **overrides})
        assert str(error.value).startswith(line)
        assert "\n" not in str(error.value)

    def test_max_age_units(self):
        assert max_age_seconds("24h") == 86400
        assert max_age_seconds("7D") == 7 * 86400
        with pytest.raises(ValueError):
            max_age_seconds("0s")

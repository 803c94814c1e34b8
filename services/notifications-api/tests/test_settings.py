"""DESIGN §2: settings are validated at start-up; a bad one stops with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from notifications_api.settings import ApiSettings, ConfigError, load_settings

GOOD = {"JWT_SECRET": "s" * 40}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "DATABASE_URL",
        "RABBITMQ_URL",
        "JWT_SECRET",
        "JWT_PUBLIC_KEY",
        "JWT_JWKS_URL",
        "MAX_BODY_BYTES",
        "EVENT_LOG_MAX_AGE",
        "CORS_ORIGINS",
    ):
        monkeypatch.delenv(name, raising=False)


class TestDefaults:
    """Defaults follow DESIGN §2."""

    def test_defaults(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("JWT_SECRET", "s" * 40)
        settings = load_settings(ApiSettings)
        assert settings.database_url == "sqlite+aiosqlite:///./notifications.db"
        assert settings.rabbitmq_url == "amqp://guest:guest@localhost:5672/"
        assert settings.event_log_max_age == "24h"
        assert settings.max_body_bytes == 65536
        assert settings.cors_origins == []

    def test_cors_origins_are_comma_separated(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("JWT_SECRET", "s" * 40)
        monkeypatch.setenv("CORS_ORIGINS", "https://a.qahub, https://b.qahub")
        assert load_settings(ApiSettings).cors_origins == ["https://a.qahub", "https://b.qahub"]


class TestInvalid:
    """Each bad value names its variable."""

    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({}, "JWT_SECRET"),
            ({"JWT_SECRET": "short"}, "JWT_SECRET"),
            ({**GOOD, "JWT_PUBLIC_KEY": "x"}, "JWT_SECRET"),
            ({**GOOD, "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
            ({**GOOD, "MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
            ({**GOOD, "EVENT_LOG_MAX_AGE": "1 day"}, "EVENT_LOG_MAX_AGE"),
            ({**GOOD, "DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL"),
            ({**GOOD, "RABBITMQ_URL": "http://localhost"}, "RABBITMQ_URL"),
            (
                {"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
                "JWT_PUBLIC_KEY",
            ),
        ],
    )
    def test_error_names_the_variable(self, monkeypatch: pytest.MonkeyPatch, env, variable):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=f"^{variable}: "):
            load_settings(ApiSettings)

    def test_the_process_stops_with_one_line_and_no_traceback(self):
        env = {"PATH": "/usr/bin:/bin", "JWT_SECRET": "s" * 40, "MAX_BODY_BYTES": "lots"}
        result = subprocess.run(
            [sys.executable, "-m", "notifications_api", "--no-migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("config error: MAX_BODY_BYTES: Input should be a valid integer")

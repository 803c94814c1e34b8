"""Configuration of one relay instance: one validated settings object (DESIGN §2).

Every variable is read once, at start-up, and validated; a bad value becomes a
:class:`ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from qahub_contracts.config import ConfigError, SharedSettings, load, max_age_seconds

__all__ = ["ConfigError", "RelaySettings", "load_settings", "max_age_seconds"]


class RelaySettings(SharedSettings):
    """Every environment variable the relay reads, validated at start-up."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    notifications_api_url: str = "http://127.0.0.1:8000"
    sse_heartbeat_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    sse_retry_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 3000
    sse_retry_jitter: Annotated[float, Field(ge=0, le=1)] = 0.5  # retry: is SSE_RETRY_MS +- 50 %
    max_streams_per_user: Annotated[int, Field(ge=1, le=10_000)] = 10
    # Relay-only knobs (not in DESIGN §2; the defaults suit production).
    replay_max_events_per_user: Annotated[int, Field(ge=1, le=1_000_000)] = 5000
    client_queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    consumer_prefetch: Annotated[int, Field(ge=1, le=10_000)] = 200
    api_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    api_concurrency: Annotated[int, Field(ge=1, le=1000)] = 32  # snapshot requests at once
    snapshot_reuse_seconds: Annotated[float, Field(ge=0, le=3600)] = 10.0
    catch_up_wait_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    shed_lag_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0  # 0: never refuse a stream
    relay_state_dir: Path | None = None  # a local copy of the index: fast restarts

    @field_validator("notifications_api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def replay_max_age_seconds(self) -> int:
        """The index keeps events as long as the stream does."""
        return max_age_seconds(self.event_log_max_age)


def load_settings(**overrides: object) -> RelaySettings:
    """Read the settings from the environment (and ``overrides``).

    Raises:
        ConfigError: one line such as ``SSE_HEARTBEAT_SECONDS: Input should be a valid number``.
    """
    return load(RelaySettings, **overrides)

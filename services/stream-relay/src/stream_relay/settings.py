"""Configuration of one relay instance: one validated settings object (DESIGN §2).

Every variable is read once, at start-up, and validated; a bad value becomes a
:class:`ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_contracts.auth import TokenVerifier

__all__ = ["ConfigError", "RelaySettings", "load_settings", "max_age_seconds"]

_MAX_AGE = re.compile(r"^([1-9][0-9]*)([YMDhms])$")
_UNIT_SECONDS: Final = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
MIN_SECRET_BYTES: Final = 32


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


def max_age_seconds(value: str) -> int:
    """Seconds in a RabbitMQ ``x-max-age`` value such as ``24h`` (``Y`` = 365 days, ``M`` = 30).

    Raises:
        ValueError: the value is not a positive number followed by one unit.
    """
    match = _MAX_AGE.match(value)
    if match is None:
        raise ValueError("must be a number and a unit of Y, M, D, h, m or s, like 24h")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class RelaySettings(BaseSettings):
    """Every environment variable the relay reads, validated at start-up."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    notifications_api_url: str = "http://127.0.0.1:8000"
    sse_heartbeat_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    sse_retry_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 3000
    event_log_max_age: str = "24h"
    max_streams_per_user: Annotated[int, Field(ge=1, le=10_000)] = 10
    # Relay-only knobs (not in DESIGN §2; the defaults suit production).
    replay_max_events_per_user: Annotated[int, Field(ge=1, le=1_000_000)] = 5000
    client_queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    consumer_prefetch: Annotated[int, Field(ge=1, le=10_000)] = 200
    api_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    catch_up_wait_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("notifications_api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("event_log_max_age")
    @classmethod
    def _max_age(cls, value: str) -> str:
        max_age_seconds(value)
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes for HS256")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        sources = [self.jwt_secret, self.jwt_public_key, self.jwt_jwks_url]
        if sum(1 for s in sources if s) != 1:
            raise ValueError("set exactly one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL")
        return self

    @property
    def replay_max_age_seconds(self) -> int:
        """The index keeps events as long as the stream does."""
        return max_age_seconds(self.event_log_max_age)

    def token_verifier(self) -> TokenVerifier:
        """The verifier for the one configured key source."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        return TokenVerifier(
            secret=secret,
            public_key=self.jwt_public_key,
            jwks_url=self.jwt_jwks_url,
            audience=self.jwt_audience,
            issuer=self.jwt_issuer,
        )


def load_settings(**overrides: object) -> RelaySettings:
    """Read the settings from the environment (and ``overrides``).

    Raises:
        ConfigError: one line such as ``SSE_HEARTBEAT_SECONDS: Input should be a valid number``.
    """
    try:
        settings = RelaySettings(**overrides)  # type: ignore[arg-type]
        settings.token_verifier()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "_".join(str(p) for p in error["loc"]).upper() or "JWT_SECRET"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    except ValueError as exc:
        raise ConfigError(f"JWT_PUBLIC_KEY: {exc}") from None
    return settings

"""Configuration of the notifications API: one validated settings object (DESIGN §2)."""

from __future__ import annotations

import re
from typing import Annotated, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ApiSettings", "ConfigError", "DatabaseSettings", "load_settings"]

_MAX_AGE = re.compile(r"^[1-9][0-9]*[YMDhms]$")
MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class DatabaseSettings(BaseSettings):
    """Just the database: all that ``qahub-notify migrate`` needs."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./notifications.db"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            msg = "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            raise ValueError(msg)
        return value


class ApiSettings(DatabaseSettings):
    """Every environment variable the API reads, validated at start-up."""

    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    event_log_max_age: str = "24h"
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 65536
    cors_origins: Annotated[list[str], NoDecode] = []
    rate_limit_per_second: Annotated[float, Field(ge=0, le=100_000)] = 50.0
    rate_limit_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    outbox_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    outbox_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    publish_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @field_validator("event_log_max_age")
    @classmethod
    def _max_age(cls, value: str) -> str:
        if not _MAX_AGE.match(value):
            raise ValueError("must be a number and a unit of Y, M, D, h, m or s, like 24h")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
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
            msg = "set exactly one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL"
            raise ValueError(msg)
        return self


S = TypeVar("S", bound=DatabaseSettings)


def load_settings(kind: type[S], **overrides: object) -> S:
    """Read settings of ``kind`` from the environment (and ``overrides``).

    Raises:
        ConfigError: with one line such as ``MAX_BODY_BYTES: Input should be a valid integer``.
    """
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "_".join(str(p) for p in error["loc"]).upper() or "JWT_SECRET"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None

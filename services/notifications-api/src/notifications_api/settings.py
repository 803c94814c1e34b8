"""Configuration of the notifications API: one validated settings object (DESIGN §2)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qahub_contracts.config import ConfigError, SharedSettings, load

__all__ = ["ApiSettings", "ConfigError", "DatabaseSettings", "load_settings"]


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


class ApiSettings(DatabaseSettings, SharedSettings):
    """Every environment variable the API reads, validated at start-up."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 65536
    cors_origins: Annotated[list[str], NoDecode] = []
    rate_limit_per_second: Annotated[float, Field(ge=0, le=100_000)] = 50.0
    rate_limit_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    outbox_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    outbox_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    publish_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    command_prefetch: Annotated[int, Field(ge=1, le=1000)] = 64

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value


S = TypeVar("S", bound=DatabaseSettings)


def load_settings(kind: type[S], **overrides: object) -> S:
    """Read settings of ``kind`` from the environment (and ``overrides``).

    Raises:
        ConfigError: with one line such as ``MAX_BODY_BYTES: Input should be a valid integer``.
    """
    return load(kind, **overrides)

"""Settings both services share (DESIGN §2): broker, event log retention, token keys.

Each service's settings class extends :class:`SharedSettings`; :func:`load`
reads one from the environment and turns any invalid value into a
:class:`ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

import re
from typing import Final, Self, TypeVar

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_contracts.auth import TokenVerifier

__all__ = ["MIN_SECRET_BYTES", "ConfigError", "SharedSettings", "load", "max_age_seconds"]

MIN_SECRET_BYTES: Final = 32
_MAX_AGE = re.compile(r"^([1-9][0-9]*)([YMDhms])$")
_UNIT_SECONDS: Final = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}


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


class SharedSettings(BaseSettings):
    """The variables both services read, validated the same way."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    rabbitmq_url: str = "amqp://guest:guest@localhost:5672/"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    event_log_max_age: str = "24h"

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value

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


S = TypeVar("S", bound=BaseSettings)


def load(kind: type[S], **overrides: object) -> S:
    """Read settings of ``kind`` from the environment (and ``overrides``).

    Raises:
        ConfigError: one line such as ``MAX_BODY_BYTES: Input should be a valid integer``;
            a key that does not load (``JWT_PUBLIC_KEY`` not a PEM public key) included.
    """
    try:
        settings = kind(**overrides)  # type: ignore[arg-type]
        if isinstance(settings, SharedSettings):
            settings.token_verifier()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "_".join(str(p) for p in error["loc"]).upper() or "JWT_SECRET"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    except ValueError as exc:
        raise ConfigError(f"JWT_PUBLIC_KEY: {exc}") from None
    return settings

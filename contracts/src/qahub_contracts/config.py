"""Settings both services share (DESIGN §2): broker, event log retention, token keys.

Each service's settings class extends :class:`SharedSettings`; :func:`load`
reads one from the environment and turns any invalid value into a
:class:`ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

import re
import ssl
from functools import cached_property
from pathlib import Path
from typing import Annotated, Final, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qahub_contracts.amqp_endpoints import BrokerEndpoints, TlsFiles, parse_urls
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
    """One node's URL, or several, comma-separated (a cluster, DESIGN §12)."""
    rabbitmq_ca_file: Path | None = None
    rabbitmq_cert_file: Path | None = None
    rabbitmq_key_file: Path | None = None
    event_log_replicas: Annotated[int, Field(ge=1, le=99)] = 1
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    event_log_max_age: str = "24h"

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        parse_urls(value)
        return value

    @field_validator("rabbitmq_ca_file", "rabbitmq_cert_file", "rabbitmq_key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a readable file")
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

    @cached_property
    def broker_endpoints(self) -> BrokerEndpoints:
        """The broker's nodes, with the TLS files (checked by :func:`load`).

        One object per settings object: every connection of the process shares it,
        so all of them try the node that answered last first.
        """
        tls = TlsFiles(self.rabbitmq_ca_file, self.rabbitmq_cert_file, self.rabbitmq_key_file)
        return BrokerEndpoints.parse(self.rabbitmq_url, tls)

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
            _check_tls(settings)
            settings.token_verifier()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "_".join(str(p) for p in error["loc"]).upper() or "JWT_SECRET"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
    except ValueError as exc:
        raise ConfigError(f"JWT_PUBLIC_KEY: {exc}") from None
    return settings


def _check_tls(settings: SharedSettings) -> None:
    """Build the TLS context once now, so a bad file stops the start with one line."""
    if settings.rabbitmq_key_file is not None and settings.rabbitmq_cert_file is None:
        raise ConfigError("RABBITMQ_KEY_FILE: set RABBITMQ_CERT_FILE too (the client certificate)")
    endpoints = settings.broker_endpoints
    tls_urls = [url for url in endpoints.urls if url.startswith("amqps://")]
    files = (settings.rabbitmq_ca_file, settings.rabbitmq_cert_file)
    if not tls_urls:
        if any(files):
            name = "RABBITMQ_CA_FILE" if settings.rabbitmq_ca_file else "RABBITMQ_CERT_FILE"
            raise ConfigError(f"{name}: set, but no RABBITMQ_URL node is amqps://")
        return
    ca = str(settings.rabbitmq_ca_file) if settings.rabbitmq_ca_file else None
    try:
        ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"RABBITMQ_CA_FILE: not a PEM CA certificate ({_reason(exc)})") from None
    try:
        endpoints.ssl_context(tls_urls[0])
    except (OSError, ssl.SSLError) as exc:
        name = "RABBITMQ_KEY_FILE" if settings.rabbitmq_key_file else "RABBITMQ_CERT_FILE"
        raise ConfigError(f"{name}: not a PEM certificate and key ({_reason(exc)})") from None


def _reason(exc: OSError) -> str:
    return str(getattr(exc, "reason", None) or exc.strerror or exc)

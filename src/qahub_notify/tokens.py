"""Tokens the CLI mints for itself, signed with ``JWT_SECRET`` (DESIGN §2, §3)."""

from __future__ import annotations

import os

__all__ = ["TokenUnavailable", "mint_from_environment"]

_MIN_SECRET_BYTES = 32


class TokenUnavailable(Exception):
    """No usable ``JWT_SECRET`` to sign with; the message is one line naming the variable."""


def mint_from_environment(
    sub: str, *, scope: str | None = None, role: str | None = None, ttl_seconds: int = 3600
) -> str:
    """An HS256 token for ``sub`` signed with ``JWT_SECRET`` (``JWT_AUDIENCE``/``ISSUER`` honoured).

    Raises:
        TokenUnavailable: ``JWT_SECRET`` is unset or shorter than 32 bytes.
    """
    from qahub_contracts.auth import mint_token  # noqa: PLC0415 - keeps CLI start-up light

    secret = os.environ.get("JWT_SECRET", "")
    if len(secret.encode()) < _MIN_SECRET_BYTES:
        raise TokenUnavailable("JWT_SECRET: set it (at least 32 bytes) to mint tokens")
    return mint_token(
        secret,
        sub,
        ttl_seconds=ttl_seconds,
        scope=scope,
        role=role,
        audience=os.environ.get("JWT_AUDIENCE") or None,
        issuer=os.environ.get("JWT_ISSUER") or None,
    )

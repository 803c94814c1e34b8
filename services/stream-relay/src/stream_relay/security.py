"""Who is calling: the bearer token from header, ``?token=`` or cookie (DESIGN §3).

Verification itself is :class:`qahub_contracts.auth.TokenVerifier`; this module
only finds the token. Guarantee: every failure is :class:`NotAuthenticated`
(401 JSON), never a 500, and no message ever echoes the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from qahub_contracts.auth import Principal, TokenError, TokenVerifier
from stream_relay.errors import NotAuthenticated

__all__ = ["Caller", "authenticate", "token_from"]

_COOKIE = "access_token"


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified principal and the token it came with (for calls to the API)."""

    principal: Principal
    token: str


def token_from(request: HTTPConnection) -> str | None:
    """The token of ``Authorization: Bearer``, else ``?token=``, else the cookie.

    Another ``Authorization`` scheme (HTTP basic auth at a proxy in front of the
    relay) is not meant for the relay: it hides neither ``?token=`` nor the cookie.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    return request.query_params.get("token") or request.cookies.get(_COOKIE) or None


async def authenticate(request: HTTPConnection, verifier: TokenVerifier) -> Caller:
    """The verified caller of ``request``.

    Raises:
        NotAuthenticated: no token, or it is invalid, expired or untrusted.
    """
    token = token_from(request)
    if not token:
        raise NotAuthenticated("a bearer token is required")
    try:
        principal = await verifier.verify(token)
    except TokenError as exc:
        raise NotAuthenticated(str(exc)) from None
    return Caller(principal, token)

"""The caller of a REST request: ``Authorization: Bearer <jwt>`` -> Principal."""

from __future__ import annotations

from fastapi import Request

from notifications_api.errors import Unauthorized
from qahub_contracts.auth import Principal, TokenError, TokenVerifier

__all__ = ["authenticate"]


async def authenticate(request: Request, verifier: TokenVerifier) -> Principal:
    """Verify the request's bearer token.

    The REST API reads the header only: no cookie, so a cross-site form can
    never act for a signed-in browser (no CSRF surface).

    Raises:
        Unauthorized: no bearer token, or an invalid one.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <jwt>)")
    try:
        return await verifier.verify(token.strip())
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None

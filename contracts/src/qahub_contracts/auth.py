"""Bearer tokens: who the caller is and what it may do (DESIGN §3).

Both services verify tokens the same way, so the rules live here once:
algorithms are pinned by configuration, ``sub`` and ``exp`` are required,
``aud``/``iss`` are checked when configured. Every failure is a
:class:`TokenError` whose message is safe to return to the caller (it never
echoes the token).

A verified token is remembered (by its SHA-256, never the token itself) until
its ``exp`` or for :data:`VERIFIED_TTL_SECONDS`, whichever comes first: a
service token reused for every request is checked once, not per request
(the signature check is about 0.1 to 0.2 ms of CPU with PyJWT). Invalid tokens are
never cached, so each one is checked (and refused) again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm

from qahub_contracts.text import check_text

__all__ = [
    "ADMIN_ROLE",
    "MAX_TOKEN_BYTES",
    "PUBLISH_SCOPE",
    "Principal",
    "TokenError",
    "TokenVerifier",
    "mint_token",
]

PUBLISH_SCOPE: Final = "notifications:publish"
"""Scope that lets a (service) token notify any user."""

ADMIN_ROLE: Final = "admin"
"""Role that lets a token see every user's connections."""

MAX_TOKEN_BYTES: Final = 8192
"""Longer tokens are refused before any parsing."""

_REQUIRED: Final = ["exp", "sub"]

VERIFIED_TTL_SECONDS: Final = 60.0
"""How long a verified token is trusted without checking it again (a rotated-out
JWKS key stops being accepted within this time)."""

_VERIFIED_MAX: Final = 10_000


class TokenError(Exception):
    """The token is missing, malformed, expired, or not signed by a trusted key."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    user_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    expires_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    def may_notify(self, user_id: str) -> bool:
        """A service token may notify anyone; a user token only itself."""
        return PUBLISH_SCOPE in self.scopes or user_id == self.user_id

    def seconds_left(self) -> float:
        return self.expires_at - time.time()


class _OnceKeyedHmac(HMACAlgorithm):
    """HS256 whose secret is checked and converted once, at construction.

    PyJWT prepares the key on every verification (for HMAC it rules out PEM, SSH
    and DER keys, parsing the secret as DER each time); given back the very
    object prepared here it is returned as is. Any other key is prepared as
    PyJWT always does.
    """

    def __init__(self, secret: str) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        try:
            self.prepared = super().prepare_key(secret)
        except jwt.InvalidKeyError as exc:
            msg = "JWT_SECRET must be a shared secret, not a public or private key"
            raise ValueError(msg) from exc

    def prepare_key(self, key: str | bytes) -> bytes:
        if key is self.prepared:
            return key
        return super().prepare_key(key)


class _Decoder(jwt.PyJWT):
    """PyJWT whose HS256 is :class:`_OnceKeyedHmac` (its own algorithm registry)."""

    def __init__(self, hmac: _OnceKeyedHmac | None) -> None:
        super().__init__()
        if hmac is not None:
            self._jws.unregister_algorithm("HS256")
            self._jws.register_algorithm("HS256", hmac)


def _algorithms_for(public_key_pem: str) -> list[str]:
    key = load_pem_public_key(public_key_pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256"]
    msg = "JWT_PUBLIC_KEY must be an RSA or EC public key in PEM form"
    raise ValueError(msg)


class TokenVerifier:
    """Verifies bearer tokens against exactly one configured key source.

    Raises:
        ValueError: at construction, when no key (or more than one) is configured.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        sources = [s for s in (secret, public_key, jwks_url) if s]
        if len(sources) != 1:
            msg = "configure exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL"
            raise ValueError(msg)
        # Keys are prepared once here, not per verification: the HMAC secret by
        # _OnceKeyedHmac, a PEM public key parsed into its key object.
        hmac = _OnceKeyedHmac(secret) if secret else None
        self._decoder = _Decoder(hmac)
        self._key: Any = hmac.prepared if hmac else None
        self._algorithms = ["HS256"] if secret else ["RS256", "ES256"]
        if public_key:
            self._algorithms = _algorithms_for(public_key)
            self._key = load_pem_public_key(public_key.encode())
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=5) if jwks_url else None
        self._audience = audience
        self._issuer = issuer
        self._verified: TLRUCache[bytes, Principal] = TLRUCache(
            _VERIFIED_MAX, _trusted_until, timer=time.time
        )

    async def verify(self, token: str) -> Principal:
        """Return the principal a valid token names.

        Raises:
            TokenError: for any invalid, expired or untrusted token.
        """
        digest = _digest(token)
        known = self._verified.get(digest)
        if known is not None:
            return known
        if self._jwks is not None:
            key = await asyncio.to_thread(self._signing_key, token)
            return self._remember(digest, self._decode(token, key))
        return self._remember(digest, self._decode(token, self._key))

    def verify_sync(self, token: str) -> Principal:
        """Like :meth:`verify`, for static keys only (no JWKS fetch)."""
        digest = _digest(token)
        known = self._verified.get(digest)
        if known is not None:
            return known
        if self._jwks is not None:
            return self._remember(digest, self._decode(token, self._signing_key(token)))
        return self._remember(digest, self._decode(token, self._key))

    def _remember(self, digest: bytes, principal: Principal) -> Principal:
        self._verified[digest] = principal
        return principal

    def _signing_key(self, token: str) -> Any:  # noqa: ANN401 - a PyJWK of any kind
        assert self._jwks is not None  # noqa: S101 - guarded by the caller
        try:
            return self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as exc:
            raise TokenError("no trusted key for this token") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc

    def _decode(self, token: str, key: Any) -> Principal:  # noqa: ANN401 - str or PyJWK
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise TokenError("malformed token")
        try:
            claims = self._decoder.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("token not yet valid") from exc
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
            raise TokenError("token not issued for this service") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenError("invalid token") from exc
        return _principal(claims)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode(errors="surrogatepass")).digest()


def _trusted_until(_digest: bytes, principal: Principal, now: float) -> float:
    return min(principal.expires_at, now + VERIFIED_TTL_SECONDS)


def _principal(claims: dict[str, Any]) -> Principal:
    sub, exp = claims.get("sub"), claims.get("exp")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 255:
        raise TokenError("token 'sub' must be a non-empty string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in sub):
        raise TokenError("token 'sub' must be a non-empty string")
    try:
        check_text(sub)  # a lone surrogate: no database could look the user up
    except ValueError:
        raise TokenError("token 'sub' must be valid Unicode") from None
    scope = claims.get("scope", "")
    scopes = scope.split() if isinstance(scope, str) else []
    role = claims.get("role")
    return Principal(
        user_id=sub,
        scopes=frozenset(scopes),
        role=role if isinstance(role, str) else None,
        expires_at=float(exp) if isinstance(exp, int | float) else 0.0,
    )


def mint_token(
    secret: str,
    sub: str,
    *,
    ttl_seconds: int = 3600,
    scope: str | None = None,
    role: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """Sign an HS256 token (``qahub-notify token``, tests, the dev server)."""
    now = int(datetime.now(UTC).timestamp())
    optional = {"scope": scope, "role": role, "aud": audience, "iss": issuer}
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl_seconds}
    claims.update({name: value for name, value in optional.items() if value})
    return jwt.encode(claims, secret, algorithm="HS256")

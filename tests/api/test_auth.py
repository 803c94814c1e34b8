"""DESIGN §3: every bad token is a 401 with the JSON error body, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http import server as http_server

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.api.conftest import SECRET, Api, api_settings, assert_error, migrate
from tests.support.servers import serving

from notifications_api.app import create_app
from notifications_api.settings import ApiSettings

URL = "/api/v1/notifications"

# Token checks do not touch the database: SQLite is enough here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _claims(**extra: object) -> dict[str, object]:
    return {"sub": "42", "exp": int(time.time()) + 600, **extra}


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


BAD_TOKENS = {
    "garbage": lambda: "not.a.jwt",
    "empty-parts": lambda: "..",
    "alg-none": lambda: _unsigned(_claims()),
    "wrong-key": lambda: jwt.encode(
        _claims(), "another-secret-that-is-long-enough-for-hs256", algorithm="HS256"
    ),
    "expired": lambda: jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256"),
    "not-yet-valid": lambda: jwt.encode(
        _claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256"
    ),
    "no-sub": lambda: jwt.encode({"exp": int(time.time()) + 600}, SECRET, algorithm="HS256"),
    "empty-sub": lambda: jwt.encode(_claims(sub=""), SECRET, algorithm="HS256"),
    "numeric-sub": lambda: jwt.encode({**_claims(), "sub": 42}, SECRET, algorithm="HS256"),
    "no-exp": lambda: jwt.encode({"sub": "42"}, SECRET, algorithm="HS256"),
    "hs512": lambda: jwt.encode(_claims(), SECRET * 2, algorithm="HS512"),
    "oversized": lambda: jwt.encode(_claims(pad="x" * 20000), SECRET, algorithm="HS256"),
    "tampered": lambda: jwt.encode(_claims(), SECRET, algorithm="HS256")[:-4] + "AAAA",
}


class TestHs256:
    """HS256 with JWT_SECRET: only valid, unexpired tokens with sub and exp pass."""

    @pytest.mark.parametrize("name", sorted(BAD_TOKENS))
    async def test_bad_tokens_get_401(self, api: Api, name: str):
        headers = {"Authorization": f"Bearer {BAD_TOKENS[name]()}"}
        for method, path in (("GET", URL), ("GET", f"{URL}/stats"), ("POST", f"{URL}/read")):
            response = await api.http.request(method, path, headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        "header", ["", "Bearer", "Basic Zm9vOmJhcg==", "Token abc", "Bearer a b"]
    )
    async def test_missing_or_malformed_header_gets_401(self, api: Api, header: str):
        assert_error(await api.http.get(URL, headers={"Authorization": header}), 401)

    async def test_the_error_never_echoes_the_token(self, api: Api):
        token = BAD_TOKENS["wrong-key"]()
        response = await api.http.get(URL, headers={"Authorization": f"Bearer {token}"})
        assert token not in response.text

    async def test_a_valid_token_passes(self, api: Api):
        assert (await api.http.get(URL, headers=api.auth("42"))).status_code == 200

    async def test_cookie_is_not_accepted_by_the_rest_api(self, api: Api):
        token = jwt.encode(_claims(), SECRET, algorithm="HS256")
        response = await api.http.get(URL, headers={"Cookie": f"access_token={token}"})
        assert_error(response, 401)


@pytest.fixture
async def audience_api(database_url: str, rabbitmq_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings(
        database_url, rabbitmq_url, jwt_audience="qahub", jwt_issuer="https://id.qahub"
    )
    await migrate(settings.database_url)
    async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        yield http


class TestAudienceAndIssuer:
    """With JWT_AUDIENCE/JWT_ISSUER set, tokens must carry exactly those."""

    @pytest.mark.parametrize(
        ("claims", "status"),
        [
            ({"aud": "qahub", "iss": "https://id.qahub"}, 200),
            ({"aud": "other", "iss": "https://id.qahub"}, 401),
            ({"aud": "qahub", "iss": "https://evil"}, 401),
            ({"iss": "https://id.qahub"}, 401),
            ({"aud": "qahub"}, 401),
        ],
        ids=["right", "wrong-aud", "wrong-iss", "no-aud", "no-iss"],
    )
    async def test_aud_and_iss_are_checked(self, audience_api: httpx.AsyncClient, claims, status):
        token = jwt.encode(_claims(**claims), SECRET, algorithm="HS256")
        response = await audience_api.get(URL, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status, response.text


class TestPublicKeys:
    """RS256/ES256 via JWT_PUBLIC_KEY: the pinned algorithm only; no HS/RS confusion."""

    async def _client(self, settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
        await migrate(settings.database_url)
        async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
            yield http

    async def test_rs256(self, database_url: str, rabbitmq_url: str, rsa_key):
        settings = api_settings(
            database_url, rabbitmq_url, jwt_secret=None, jwt_public_key=_public_pem(rsa_key)
        )
        async for http in self._client(settings):
            good = jwt.encode(_claims(), rsa_key, algorithm="RS256")
            assert (
                await http.get(URL, headers={"Authorization": f"Bearer {good}"})
            ).status_code == 200
            # The public key used as an HMAC secret must not verify (algorithm confusion).
            forged = _hmac_with_public_key(_public_pem(rsa_key))
            assert_error(await http.get(URL, headers={"Authorization": f"Bearer {forged}"}), 401)
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            wrong = jwt.encode(_claims(), other, algorithm="RS256")
            assert_error(await http.get(URL, headers={"Authorization": f"Bearer {wrong}"}), 401)

    async def test_es256(self, database_url: str, rabbitmq_url: str):
        key = ec.generate_private_key(ec.SECP256R1())
        settings = api_settings(
            database_url, rabbitmq_url, jwt_secret=None, jwt_public_key=_public_pem(key)
        )
        async for http in self._client(settings):
            good = jwt.encode(_claims(), key, algorithm="ES256")
            assert (
                await http.get(URL, headers={"Authorization": f"Bearer {good}"})
            ).status_code == 200
            hs = jwt.encode(_claims(), SECRET, algorithm="HS256")
            assert_error(await http.get(URL, headers={"Authorization": f"Bearer {hs}"}), 401)


def _hmac_with_public_key(pem: str) -> str:
    """An HS256 token whose HMAC key is the RSA public key (PyJWT refuses to make one)."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{part(json.dumps(_claims()).encode())}"
    signature = hmac.new(pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A JWKS document served on loopback, like an identity provider's."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(http_server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            del args

    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


class TestJwks:
    """JWT_JWKS_URL: keys come from the identity provider's JWKS, chosen by kid."""

    async def test_jwks(self, database_url: str, rabbitmq_url: str, rsa_key, jwks_url: str):
        settings = api_settings(database_url, rabbitmq_url, jwt_secret=None, jwt_jwks_url=jwks_url)
        await migrate(settings.database_url)
        async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http_:
            good = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
            assert (
                await http_.get(URL, headers={"Authorization": f"Bearer {good}"})
            ).status_code == 200
            unknown = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k2"})
            assert_error(await http_.get(URL, headers={"Authorization": f"Bearer {unknown}"}), 401)
            hs = jwt.encode(_claims(), SECRET, algorithm="HS256", headers={"kid": "k1"})
            assert_error(await http_.get(URL, headers={"Authorization": f"Bearer {hs}"}), 401)

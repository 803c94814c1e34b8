"""The shared contracts: wire names, camelCase JSON, event round trips, exports."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import HMACAlgorithm
from pydantic import ValidationError

import qahub_contracts
from qahub_contracts import (
    api,
    auth,
    broker,
    commands,
    config,
    errors,
    events,
    logs,
    schemas,
    text,
    topology,
)
from qahub_contracts.api import CreateNotification, Notification, Stats
from qahub_contracts.events import (
    NotificationCreated,
    NotificationDeleted,
    decode_event,
    encode_event,
)


def _notification() -> Notification:
    return Notification(
        id=uuid.uuid4(),
        type="t",
        notifiable_id="42",
        data={"k": "v"},
        read_at=None,
        created_at=datetime.now(UTC),
    )


def _isort_key(name: str) -> tuple[int, str]:
    """isort-style order (ruff RUF022): CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


class TestExports:
    """Every module lists a sorted __all__ of names it really defines."""

    @pytest.mark.parametrize(
        "module",
        [
            qahub_contracts,
            api,
            auth,
            broker,
            commands,
            config,
            errors,
            events,
            logs,
            schemas,
            text,
            topology,
        ],
    )
    def test_all_is_sorted_and_resolves(self, module):
        assert module.__all__ == sorted(module.__all__, key=_isort_key)
        for name in module.__all__:
            assert hasattr(module, name), name


class TestTopology:
    """The names other services and the acceptance tests rely on."""

    def test_names(self):
        assert topology.EXCHANGE == "qahub.notifications"
        assert topology.EVENT_LOG_QUEUE == "qahub.notifications.log"
        assert [e.value for e in topology.EventType] == [
            "notification.created",
            "notification.updated",
            "notification.deleted",
        ]

    def test_stream_arguments_bound_retention(self):
        args = topology.stream_arguments("24h")
        assert args["x-queue-type"] == "stream"
        assert args["x-max-age"] == "24h"
        assert 0 < args["x-stream-max-segment-size-bytes"] < 500_000_000


class TestEvents:
    """Events serialise to camelCase and parse back to the same model."""

    def test_round_trip(self):
        event = NotificationCreated(
            user_id="42", stats=Stats(total=1, unread=1, read=0), notification=_notification()
        )
        assert decode_event(encode_event(event)) == event

    def test_wire_fields_are_camel_case(self):
        event = NotificationDeleted(
            user_id="42", stats=Stats(total=0, unread=0, read=0), notification_id=uuid.uuid4()
        )
        wire = event.model_dump(by_alias=True)
        assert {
            "eventId",
            "eventType",
            "schemaVersion",
            "occurredAt",
            "userId",
            "stats",
            "notificationId",
        } <= set(wire)
        assert wire["eventType"] == "notification.deleted"

    def test_unknown_schema_version_is_refused(self):
        event = NotificationCreated(
            user_id="42", stats=Stats(total=1, unread=1, read=0), notification=_notification()
        )
        body = encode_event(event).replace(b'"schemaVersion":1', b'"schemaVersion":99')
        with pytest.raises(ValidationError):
            decode_event(body)

    @pytest.mark.parametrize(
        "body", [b"", b"not json", b"{}", b'{"eventType":"notification.exploded"}']
    )
    def test_garbage_is_refused(self, body):
        with pytest.raises(ValidationError):
            decode_event(body)


class TestCreateRequest:
    """The create body: user recipients only, data within 16 KiB."""

    def test_data_limit_counts_encoded_bytes(self):
        base = {"type": "t", "notifiableType": "user", "notifiableId": "1"}
        CreateNotification.model_validate({**base, "data": "é" * 8192})
        with pytest.raises(ValidationError):
            CreateNotification.model_validate({**base, "data": "é" * 8193})

    @pytest.mark.parametrize("data", [{"big": 2**64}, {"deep": [2**70]}, "\ud800"])
    def test_data_that_cannot_be_encoded_is_refused(self, data):
        with pytest.raises(ValidationError, match=r"JSON-encodable|surrogate"):
            CreateNotification.model_validate(
                {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": data}
            )

    def test_control_characters_in_user_ids_are_refused(self):
        with pytest.raises(ValidationError):
            CreateNotification.model_validate(
                {"type": "t", "notifiableType": "user", "notifiableId": "a\nb", "data": ""}
            )


class TestTokens:
    """Token verification pins algorithms and requires sub and exp."""

    SECRET = "x" * 40

    def test_mint_and_verify(self):
        token = auth.mint_token(self.SECRET, "42", scope=auth.PUBLISH_SCOPE, role="admin")
        principal = auth.TokenVerifier(secret=self.SECRET).verify_sync(token)
        assert principal.user_id == "42"
        assert principal.is_admin
        assert principal.may_notify("anyone")

    def test_a_user_token_may_only_notify_itself(self):
        principal = auth.TokenVerifier(secret=self.SECRET).verify_sync(
            auth.mint_token(self.SECRET, "42")
        )
        assert principal.may_notify("42")
        assert not principal.may_notify("43")

    def test_a_remembered_token_still_expires_at_its_exp(self):
        verifier = auth.TokenVerifier(secret=self.SECRET)
        token = auth.mint_token(self.SECRET, "42", ttl_seconds=1)
        first = verifier.verify_sync(token)
        assert verifier.verify_sync(token) is first  # checked once, then remembered
        deadline = time.monotonic() + 5
        while time.time() < first.expires_at and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(auth.TokenError, match="expired"):
            verifier.verify_sync(token)

    def test_a_refused_token_is_refused_every_time(self):
        verifier = auth.TokenVerifier(secret=self.SECRET)
        forged = auth.mint_token("y" * 40, "42")
        for _ in range(2):
            with pytest.raises(auth.TokenError):
                verifier.verify_sync(forged)

    def test_the_secret_is_prepared_once_not_per_token(self, monkeypatch: pytest.MonkeyPatch):
        """PyJWT parsed the secret as a DER key on every verification (CPU in a storm)."""
        verifier = auth.TokenVerifier(secret=self.SECRET)
        parsed: list[bytes] = []
        original = HMACAlgorithm._is_der_key

        def counted(key: bytes) -> bool:
            parsed.append(key)
            return original(key)

        tokens = {user: auth.mint_token(self.SECRET, user) for user in ("1", "2", "3")}
        forged = auth.mint_token("y" * 40, "4")
        monkeypatch.setattr(HMACAlgorithm, "_is_der_key", staticmethod(counted))
        for user, token in tokens.items():
            assert verifier.verify_sync(token).user_id == user
        with pytest.raises(auth.TokenError):
            verifier.verify_sync(forged)
        assert parsed == []

    def test_algorithms_stay_pinned(self):
        verifier = auth.TokenVerifier(secret=self.SECRET)
        claims = {"sub": "42", "exp": int(time.time()) + 60}
        for token in (
            jwt.encode(claims, self.SECRET * 2, algorithm="HS512"),
            jwt.encode(claims, None, algorithm="none"),
        ):
            with pytest.raises(auth.TokenError):
                verifier.verify_sync(token)

    def test_a_public_key_is_refused_as_a_secret(self):
        pem = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        with pytest.raises(ValueError, match="shared secret"):
            auth.TokenVerifier(secret=pem)
        token = jwt.encode({"sub": "42", "exp": int(time.time()) + 60}, "k" * 40)
        with pytest.raises(auth.TokenError):
            auth.TokenVerifier(public_key=pem).verify_sync(token)  # HS256 with a public key

    def test_exactly_one_key_source(self):
        with pytest.raises(ValueError, match="exactly one"):
            auth.TokenVerifier()
        with pytest.raises(ValueError, match="exactly one"):
            auth.TokenVerifier(secret=self.SECRET, jwks_url="http://127.0.0.1:1/jwks")

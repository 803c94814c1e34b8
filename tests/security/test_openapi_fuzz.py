"""schemathesis against the API's own OpenAPI document: no 5xx, no schema violations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from tests.api.conftest import SECRET
from tests.support.servers import child, free_port, wait_http_ok_sync
from tests.support.services import Broker

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_url(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real API process on SQLite and its own vhost, shared by the fuzz cases."""
    vhost = f"qahub-test-{uuid.uuid4().hex[:12]}"
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}",
        "RABBITMQ_URL": broker.create_vhost(vhost),
        "JWT_SECRET": SECRET,
    }
    try:
        with child(["api", "--port", str(port)], env, tmp / "api.log"):
            url = f"http://127.0.0.1:{port}"
            wait_http_ok_sync(f"{url}/healthz")
            yield url
    finally:
        broker.delete_vhost(vhost)


def test_no_server_errors_and_no_schema_violations(api_url: str):
    """Every operation, 25 generated requests each, with a valid service token."""
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'fuzzer', scope=PUBLISH_SCOPE)}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lost operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:
            case.call_and_validate(base_url=api_url, headers=headers, checks=CHECKS)

        fuzz()

"""The API with a RABBITMQ_URL whose first node is down (DESIGN §12): both doors still work."""

from __future__ import annotations

import socket

import httpx
import pytest
from tests.api.conftest import SECRET, api_settings, migrate
from tests.support.commands import wait_for_command_consumer
from tests.support.servers import serving
from tests.support.stream import read_log

from notifications_api.app import create_app
from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _dead_node() -> str:
    """An AMQP URL on a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/"


class TestFirstNodeDown:
    """The publisher and the command consumer both take the next node."""

    async def test_commands_are_consumed_and_events_published(self, database_url, rabbitmq_url):
        settings = api_settings(database_url, f"{_dead_node()},{rabbitmq_url}")
        await migrate(database_url)
        async with serving(create_app(settings)) as base_url:
            await wait_for_command_consumer(rabbitmq_url, timeout=30)
            token = mint_token(SECRET, "billing", scope=PUBLISH_SCOPE)
            body = {"type": "t", "notifiableType": "user", "notifiableId": "7", "data": "x"}
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
                response = await http.post(
                    "/api/v1/notifications",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert response.status_code == 201, response.text
            (entry,) = await read_log(rabbitmq_url, 1)
        assert entry.event.event_type == "notification.created"
        assert str(entry.event.notification.id) == response.json()["id"]

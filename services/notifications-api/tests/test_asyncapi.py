"""The committed AsyncAPI document is the one generated from the API's real FastStream app."""

from __future__ import annotations

import json
from pathlib import Path

from notifications_api.asyncapi import specification

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


class TestAsyncApi:
    """docs/asyncapi.json matches the command, the events and the topology, and is current."""

    def test_every_event_type_is_a_channel_on_the_exchange(self):
        spec = specification()
        channels = spec["channels"]
        assert isinstance(channels, dict)
        assert sorted(channels) == [
            "notification.create",
            "notification.created",
            "notification.deleted",
            "notification.updated",
        ]
        for name, channel in channels.items():
            if name != "notification.create":
                assert channel["bindings"]["amqp"]["exchange"]["name"] == "qahub.notifications"

    def test_the_command_channel_is_the_command_queue(self):
        """DESIGN §9: the subscriber the API really runs, with the command's schema."""
        spec = specification()
        channel = spec["channels"]["notification.create"]  # type: ignore[index]
        assert channel["bindings"]["amqp"]["queue"]["name"] == "qahub.notifications.commands"
        schema = spec["components"]["schemas"]["CreateNotificationCommand"]  # type: ignore[index]
        assert {"commandId", "schemaVersion", "type", "notifiableId", "data"} <= set(
            schema["required"]
        )

    def test_the_committed_document_is_current(self):
        committed = json.loads(DOCUMENT.read_text())
        assert committed == specification(), (
            "regenerate: python -m notifications_api.asyncapi > docs/asyncapi.json"
        )

    def test_the_envelope_fields_are_required(self):
        """eventId, eventType, schemaVersion and occurredAt are always written (DESIGN §11)."""
        schemas = specification()["components"]["schemas"]  # type: ignore[index]
        for name in ("NotificationCreated", "NotificationUpdated", "NotificationDeleted"):
            required = set(schemas[name]["required"])
            assert {"eventId", "eventType", "schemaVersion", "occurredAt", "userId"} <= required

"""Commands over RabbitMQ (DESIGN §9): names, the command body and the replies."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from qahub_contracts import topology
from qahub_contracts.api import MAX_DATA_BYTES
from qahub_contracts.commands import (
    CommandFailed,
    CommandSucceeded,
    CreateNotificationCommand,
    decode_reply,
)


def _body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "commandId": str(uuid.uuid4()),
        "schemaVersion": 1,
        "type": "invoice.paid",
        "notifiableType": "user",
        "notifiableId": "42",
        "data": {"invoice": 1},
    }
    body.update(changes)
    return body


class TestNames:
    """The wire names of DESIGN §9, spelled once."""

    def test_exchange_queue_and_dead_letters(self):
        assert topology.COMMAND_EXCHANGE == "qahub.notifications.commands"
        assert topology.CREATE_COMMAND_KEY == "notification.create"
        assert topology.COMMAND_QUEUE == "qahub.notifications.commands"
        assert topology.COMMAND_DLX == "qahub.notifications.commands.dlx"
        assert topology.COMMAND_DEAD_QUEUE == "qahub.notifications.commands.dead"

    def test_headers(self):
        assert topology.ERROR_HEADER == "x-qahub-error"
        assert topology.ERROR_MESSAGE_HEADER == "x-qahub-error-message"
        assert topology.AUTHORIZATION_HEADER == "authorization"

    def test_queue_is_quorum_with_dead_letters_and_a_delivery_limit(self):
        arguments = topology.command_queue_arguments()
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-dead-letter-exchange"] == topology.COMMAND_DLX
        assert arguments["x-delivery-limit"] == topology.COMMAND_DELIVERY_LIMIT


class TestCreateNotificationCommand:
    """A command is validated exactly like a REST create body."""

    def test_round_trip_in_camel_case(self):
        command = CreateNotificationCommand.model_validate(_body(notifiableId=42))
        wire = json.loads(command.model_dump_json())
        assert wire["notifiableId"] == "42"
        assert wire["schemaVersion"] == 1
        assert CreateNotificationCommand.model_validate(wire) == command

    def test_fields_a_newer_sender_adds_are_ignored(self):
        command = CreateNotificationCommand.model_validate(_body(priority="high"))
        assert command.type == "invoice.paid"

    @pytest.mark.parametrize(
        "changes",
        [
            {"schemaVersion": 2},
            {"schemaVersion": None},
            {"commandId": "not-a-uuid"},
            {"notifiableType": "team"},
            {"type": ""},
            {"data": ["a list"]},
            {"data": "x" * (MAX_DATA_BYTES + 1)},
            {"notifiableId": "bad\nid"},
        ],
    )
    def test_refuses_what_rest_refuses_and_unknown_versions(self, changes):
        with pytest.raises(ValidationError):
            CreateNotificationCommand.model_validate(_body(**changes))

    def test_missing_command_id_is_refused(self):
        body = _body()
        del body["commandId"]
        with pytest.raises(ValidationError):
            CreateNotificationCommand.model_validate(body)


class TestReplies:
    """Replies are told apart by ``ok``."""

    def test_success_carries_the_notification(self):
        notification = {
            "id": str(uuid.uuid4()),
            "type": "t",
            "notifiableType": "user",
            "notifiableId": "42",
            "data": "hi",
            "readAt": None,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        reply = decode_reply(json.dumps({"ok": True, "notification": notification}))
        assert isinstance(reply, CommandSucceeded)
        assert reply.notification.data == "hi"

    def test_failure_carries_rest_code(self):
        reply = decode_reply(b'{"ok": false, "error": {"code": "forbidden", "message": "no"}}')
        assert isinstance(reply, CommandFailed)
        assert reply.error.code == "forbidden"

    def test_garbage_is_refused(self):
        with pytest.raises(ValidationError):
            decode_reply(b'{"ok": "maybe"}')

"""Tolerant readers (DESIGN §11): what one release writes, the previous one still reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from qahub_contracts.api import CreateNotification, Notification, NotificationPage, Stats
from qahub_contracts.events import NotificationCreated, decode_event, encode_event


def _created() -> NotificationCreated:
    notification = Notification(
        id=uuid.uuid4(),
        type="t",
        notifiable_id="42",
        data={"k": "v"},
        read_at=None,
        created_at=datetime.now(UTC),
    )
    return NotificationCreated(
        user_id="42", stats=Stats(total=1, unread=1, read=0), notification=notification
    )


class TestTolerantReaders:
    """Unknown fields are ignored in events and answers, at every level."""

    def test_an_event_from_a_newer_producer_decodes(self):
        event = _created()
        wire = orjson.loads(encode_event(event))
        wire["traceId"] = "t-1"
        wire["notification"]["priority"] = "high"
        wire["stats"]["archived"] = 3
        assert decode_event(orjson.dumps(wire)) == event

    def test_an_answer_from_a_newer_api_decodes(self):
        page = NotificationPage.model_validate(
            {"items": [], "nextCursor": None, "total": 0}  # a field a newer API might add
        )
        assert page.items == []

    def test_an_unknown_major_version_is_still_refused(self):
        wire = orjson.loads(encode_event(_created()))
        wire["schemaVersion"] = 2
        with pytest.raises(ValidationError):
            decode_event(orjson.dumps(wire))


class TestStrictRequests:
    """REST request bodies still refuse unknown fields: a typo is a 422, not ignored."""

    def test_an_unknown_field_in_a_create_body(self):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": "", "typo": 1}
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            CreateNotification.model_validate(body)

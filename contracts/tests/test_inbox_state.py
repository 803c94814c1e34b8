"""DESIGN §13's payloads: seenAt/archivedAt, stats.unseen, the PATCH body, preferences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from qahub_contracts.api import (
    MAX_PREFERENCE_TYPES,
    BulkArchive,
    BulkSeen,
    CreateNotification,
    Notification,
    Preferences,
    ReplacePreferences,
    Stats,
    Suppressed,
    UpdateNotification,
)
from qahub_contracts.commands import CommandSucceeded, decode_reply

NOTIFICATION = {
    "id": str(uuid.uuid4()),
    "type": "t",
    "notifiableType": "user",
    "notifiableId": "42",
    "data": "hi",
    "readAt": None,
    "createdAt": "2026-12-06T10:00:00Z",
}


class TestNewFields:
    """The new fields are always written, and what an older API wrote still reads."""

    def test_a_notification_writes_seen_at_and_archived_at(self):
        now = datetime.now(UTC)
        n = Notification.model_validate({**NOTIFICATION, "seenAt": now.isoformat()})
        wire = n.model_dump(mode="json")
        assert wire["seenAt"] is not None
        assert wire["archivedAt"] is None

    def test_an_older_apis_notification_reads_as_not_seen_not_archived(self):
        n = Notification.model_validate(NOTIFICATION)
        assert (n.seen_at, n.archived_at) == (None, None)

    def test_stats_carry_unseen(self):
        stats = Stats(total=3, unread=2, read=1, unseen=1)
        assert stats.model_dump() == {"total": 3, "unread": 2, "read": 1, "unseen": 1}

    def test_an_older_apis_stats_count_every_unread_one_unseen(self):
        assert Stats.model_validate({"total": 3, "unread": 2, "read": 1}).unseen == 2
        assert Stats(total=1, unread=1, read=0).unseen == 1


class TestUpdateBody:
    """PATCH takes any of read/seen/archived, at least one, and no contradiction."""

    @pytest.mark.parametrize(
        "body", [{"read": True}, {"seen": True}, {"archived": False}, {"read": False, "seen": True}]
    )
    def test_accepted(self, body):
        assert UpdateNotification.model_validate(body).model_dump(exclude_none=True) == body

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "at least one of read, seen, archived"),
            ({"read": True, "seen": False}, "contradicts"),
            ({"read": "maybe"}, "valid boolean"),
            ({"pinned": True}, "Extra inputs"),
        ],
    )
    def test_refused(self, body, message):
        with pytest.raises(ValidationError, match=message):
            UpdateNotification.model_validate(body)

    def test_bulk_bodies(self):
        assert BulkSeen.model_validate({}).ids is None
        with pytest.raises(ValidationError):
            BulkArchive.model_validate({})
        with pytest.raises(ValidationError):
            BulkArchive.model_validate({"ids": ["not-a-uuid"]})


class TestPreferences:
    """A type's own setting wins over the default; the PUT body is strict and bounded."""

    def test_defaults_deliver_everything(self):
        assert Preferences().delivers("anything")
        assert Preferences().model_dump() == {"default": {"inApp": True}, "types": {}}

    def test_a_muted_type_and_a_muted_default(self):
        prefs = ReplacePreferences.model_validate(
            {"default": {"inApp": False}, "types": {"alerts": {"inApp": True}}}
        ).to_preferences()
        assert prefs.delivers("alerts")
        assert not prefs.delivers("digest")

    @pytest.mark.parametrize(
        "body",
        [
            {"types": {"x": {}}},
            {"types": {"x": {"inApp": True, "email": True}}},
            {"types": {"": {"inApp": False}}},
            {"default": {"inApp": "no"}},
            {"types": {f"t{i}": {"inApp": False} for i in range(MAX_PREFERENCE_TYPES + 1)}},
        ],
    )
    def test_refused_bodies(self, body):
        with pytest.raises(ValidationError):
            ReplacePreferences.model_validate(body)


class TestCritical:
    """``critical`` is optional and, when false, absent from the body's JSON (its digest)."""

    def test_false_is_left_out(self):
        body = {"type": "t", "notifiableType": "user", "notifiableId": "1", "data": "x"}
        request = CreateNotification.model_validate(body)
        assert not request.critical
        assert "critical" not in request.model_dump_json()
        assert '"critical":true' in request.model_copy(update={"critical": True}).model_dump_json()


class TestSuppressedReplies:
    """A suppressed command's reply says so and carries no notification."""

    def test_the_reply_round_trips(self):
        reply = CommandSucceeded(suppressed=True, reason="preference")
        wire = reply.model_dump_json()
        assert wire == '{"ok":true,"suppressed":true,"reason":"preference"}'
        assert decode_reply(wire) == reply
        assert Suppressed().model_dump() == {"suppressed": True, "reason": "preference"}

    def test_a_created_reply_is_unchanged(self):
        n = Notification.model_validate(NOTIFICATION)
        assert set(CommandSucceeded(notification=n).model_dump()) == {"ok", "notification"}

    def test_neither_or_both_is_refused(self):
        with pytest.raises(ValidationError):
            decode_reply('{"ok": true}')
        with pytest.raises(ValidationError):
            decode_reply(f'{{"ok": true, "suppressed": true, "notification": {NOTIFICATION}}}')

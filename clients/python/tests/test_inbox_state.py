"""The client's §13 calls against the real API: seen, archive, preferences, suppressed."""

from __future__ import annotations

import pytest

from qahub_notify_client import (
    AsyncNotificationsClient,
    Forbidden,
    NotFound,
    Preferences,
    Suppressed,
    ValidationFailed,
)

from .conftest import Stack


@pytest.fixture
async def clients(stack: Stack):
    async with (
        AsyncNotificationsClient(stack.api_url, token=stack.service_token()) as service,
        AsyncNotificationsClient(stack.api_url, token=stack.token("42")) as me,
    ):
        yield service, me


class TestInboxState:
    """update, mark_seen and archive change the caller's own, counted exactly."""

    async def test_seen_archive_and_the_archived_listing(self, clients):
        service, me = clients
        a = await service.send("42", "t", "a")
        b = await service.send("42", "t", "b")
        assert await me.mark_seen([a.id]) == 1
        assert (await me.stats()).unseen == 1
        assert await me.mark_seen() == 1
        assert (await me.update(a.id, read=True)).read_at is not None
        assert await me.archive([b.id]) == 1
        assert [n.id async for n in me.list("archived")] == [b.id]
        stats = await me.stats()
        assert (stats.total, stats.unread, stats.unseen) == (1, 0, 0)
        restored = await me.update(b.id, archived=False)
        assert restored.archived_at is None
        with pytest.raises(NotFound):
            await service.update(a.id, seen=True)  # not the service's own
        with pytest.raises(ValidationFailed):
            await me.update(a.id)


class TestPreferences:
    """A muted type comes back as Suppressed; critical is for the publish scope."""

    async def test_mute_a_type(self, clients):
        service, me = clients
        assert await me.preferences() == Preferences()
        muted = Preferences.model_validate({"types": {"digest": {"inApp": False}}})
        assert await me.set_preferences(muted) == muted
        assert await service.send("42", "digest", "d") == Suppressed()
        assert (await service.send("42", "alert", "x")).type == "alert"
        assert (await me.stats()).total == 1
        with pytest.raises(Forbidden):
            await me.send("42", "digest", "d", critical=True)  # critical: services only
        assert (await service.send("42", "digest", "d", critical=True)).type == "digest"

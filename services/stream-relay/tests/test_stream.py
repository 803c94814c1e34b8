"""The stream endpoint against a real RabbitMQ, over real HTTP (DESIGN §5)."""

from __future__ import annotations

import json

from qahub_contracts.api import StreamConnected
from stream_relay import response_socket
from stream_relay.session import SessionConfig


class TestConnect:
    """Connect sequence, headers and live delivery."""

    async def test_first_connect_sends_retry_connected_then_live_events(
        self, start_relay, open_stream, publisher, events, token
    ):
        """retry + connected first; live created/updated/deleted each with stats."""
        relay = await start_relay(sse_retry_ms=1234)
        stream = await open_stream(relay.base_url, token("alice"))
        headers = stream.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        first = await stream.next()
        assert first.retry is not None
        assert 617 <= first.retry <= 1851  # SSE_RETRY_MS +- 50 %
        assert first.event == "connected"
        connected = json.loads(first.data)
        assert connected["userId"] == "alice"
        assert connected["recovered"] is False
        assert set(connected) == {"clientId", "userId", "timestamp", "recovered"}
        StreamConnected.model_validate_json(first.data)  # docs/schemas/sse.connected.json

        created = events.created("alice")
        await publisher.publish(created)
        await publisher.publish(events.updated(created))
        await publisher.publish(events.deleted("alice", created.notification.id, unread=False))
        frames = await stream.take(6)
        assert [f.event for f in frames] == [
            "notification",
            "stats",
            "notification.updated",
            "stats",
            "notification.deleted",
            "stats",
        ]
        assert json.loads(frames[0].data)["id"] == str(created.notification.id)
        assert json.loads(frames[0].data)["notifiableId"] == "alice"
        assert json.loads(frames[1].data) == {"total": 1, "unread": 1, "read": 0, "unseen": 1}
        assert json.loads(frames[2].data)["readAt"] is not None
        assert json.loads(frames[4].data) == {"id": str(created.notification.id)}
        assert json.loads(frames[5].data) == {"total": 0, "unread": 0, "read": 0, "unseen": 0}
        ids = [f.id for f in frames if f.id is not None]
        assert len(ids) == 3
        assert len(set(ids)) == 3


class TestRetryJitter:
    """Each stream's retry: is SSE_RETRY_MS +- SSE_RETRY_JITTER, so a herd spreads out."""

    def test_retries_spread_over_the_whole_window_and_stay_in_it(self):
        config = SessionConfig(heartbeat_seconds=30, retry_ms=3000, retry_jitter=0.5)
        drawn = [config.stream_retry_ms() for _ in range(2000)]
        assert 1500 <= min(drawn) < 1700
        assert 4300 < max(drawn) <= 4500
        assert len(set(drawn)) > 1000

    def test_no_jitter_gives_the_configured_retry(self):
        config = SessionConfig(heartbeat_seconds=30, retry_ms=1234)
        assert {config.stream_retry_ms() for _ in range(50)} == {1234}


class TestInitialData:
    """What a client that cannot be recovered gets: stats and recent."""

    async def test_not_recovered_gets_stats_and_recent_from_the_api(
        self, start_relay, open_stream, fake_api, events, token
    ):
        """stats + recent come from the API, fetched with the caller's own token."""
        item = events.created("alice").notification.model_dump(mode="json", by_alias=True)
        fake_api.items = [item]
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        alice = token("alice")
        stream = await open_stream(relay.base_url, alice)
        assert (await stream.connected())["recovered"] is False
        stats, recent = await stream.take(2)
        assert stats.event == "stats"
        assert json.loads(stats.data) == {"total": 7, "unread": 3, "read": 4, "unseen": 3}
        assert recent.event == "recent"
        assert json.loads(recent.data) == {"notifications": [item]}
        assert fake_api.authorizations == [f"Bearer {alice}"]  # one request: /snapshot

    async def test_an_api_without_the_snapshot_endpoint_gets_the_two_older_requests(
        self, start_relay, open_stream, fake_api, events, token
    ):
        """An older API (rolling upgrade) answers 404 for /snapshot: /stats and the list."""
        item = events.created("alice").notification.model_dump(mode="json", by_alias=True)
        fake_api.items = [item]
        fake_api.combined = False
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        for _ in range(2):
            stream = await open_stream(relay.base_url, token("alice"))
            await stream.connected()
            stats, recent = await stream.take(2)
            assert json.loads(stats.data) == {"total": 7, "unread": 3, "read": 4, "unseen": 3}
            assert json.loads(recent.data) == {"notifications": [item]}
            await stream.close()
        assert fake_api.paths.count("/api/v1/notifications/snapshot") == 1

    async def test_live_events_during_the_fetch_are_held_back_then_delivered_once(
        self, start_relay, open_stream, fake_api, publisher, events, token
    ):
        """connected, stats, recent, then the event that arrived meanwhile: once."""
        fake_api.delay = 0.5  # under the relay's 1 s API timeout
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        meanwhile = events.created("alice", "meanwhile")
        await publisher.publish(meanwhile)
        frames = await stream.take(4)
        assert [f.event for f in frames] == ["stats", "recent", "notification", "stats"]
        assert json.loads(frames[2].data)["id"] == str(meanwhile.notification.id)
        later = events.created("alice", "later")
        await publisher.publish(later)
        frame = await stream.next()
        assert json.loads(frame.data)["id"] == str(later.notification.id)

    async def test_api_down_stream_still_works_with_stats_from_the_index(
        self, start_relay, open_stream, publisher, events, token
    ):
        """Without the API: no recent; stats from the user's latest indexed event."""
        relay = await start_relay()
        first = await open_stream(relay.base_url, token("alice"))
        await first.connected()
        await publisher.publish_all(events.created("alice", {"n": i}) for i in range(2))
        await first.until("stats")  # the two live events
        await first.until("stats")
        second = await open_stream(relay.base_url, token("alice"))
        await second.connected()
        stats = await second.next()
        assert stats.event == "stats"
        assert json.loads(stats.data) == {"total": 2, "unread": 2, "read": 0, "unseen": 2}
        created = events.created("alice")
        await publisher.publish(created)
        assert (await second.next()).event == "notification"  # no recent came before it


class TestFanOut:
    """Every tab of a user gets each event; no other user does."""

    async def test_two_tabs_of_one_user_both_get_the_event(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        tabs = [await open_stream(relay.base_url, token("alice")) for _ in range(2)]
        for tab in tabs:
            await tab.connected()
        created = events.created("alice")
        await publisher.publish(created)
        for tab in tabs:
            frame = (await tab.until("notification"))[-1]
            assert json.loads(frame.data)["id"] == str(created.notification.id)

    async def test_live_events_are_written_straight_to_the_socket_in_order(
        self, start_relay, open_stream, publisher, events, token, monkeypatch
    ):
        """Under uvicorn the fan-out writes live frames itself (no wake-up per event)."""
        direct: list[bytes] = []
        write = response_socket.ResponseSocket.write
        monkeypatch.setattr(
            response_socket.ResponseSocket,
            "write",
            lambda self, chunk: (direct.append(chunk), write(self, chunk))[1],
        )
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        created = [events.created("alice", f"n{i}") for i in range(20)]
        for event in created:
            await publisher.publish(event)
        frames = [f for f in await stream.take(40) if f.event == "notification"]
        assert [json.loads(f.data)["id"] for f in frames] == [
            str(e.notification.id) for e in created
        ]
        assert direct, "no frame took the direct path"

    async def test_users_only_receive_their_own_events(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        bob = await open_stream(relay.base_url, token("bob"))
        await bob.connected()
        await publisher.publish(events.created("alice", "for alice"))
        mine = events.created("bob", "for bob")
        await publisher.publish(mine)
        frame = (await bob.until("notification"))[-1]
        assert json.loads(frame.data)["id"] == str(mine.notification.id)
        assert "for alice" not in bob.raw

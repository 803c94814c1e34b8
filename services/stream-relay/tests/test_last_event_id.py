"""Last-Event-ID against a real RabbitMQ, over real HTTP (DESIGN §5).

A reconnecting client gets exactly what it missed, in order, on any relay; an id
the relay cannot use gets ``recovered: false``.
"""

from __future__ import annotations

import json


class TestReplay:
    """Last-Event-ID: exactly what was missed, in order, before live events."""

    async def _last_id_then_missed(self, relay, open_stream, publisher, events, token, count):
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        await publisher.publish(events.created("alice", "seen"))
        last_id = (await stream.until("notification"))[-1].id
        await stream.close()
        missed = [events.created("alice", {"n": i}) for i in range(count)]
        await publisher.publish_all(missed)
        await publisher.publish(events.created("bob", "not alice's"))
        return last_id, missed

    async def _assert_replayed(self, stream, missed, events):
        assert (await stream.connected())["recovered"] is True
        frames = await stream.take(len(missed) + 1)
        assert [f.event for f in frames] == ["notification"] * len(missed) + ["stats"]
        got = [json.loads(f.data)["id"] for f in frames[:-1]]
        assert got == [str(e.notification.id) for e in missed]
        ids = [f.id for f in frames[:-1]]
        offsets = [int(i.split("-")[0]) for i in ids]
        assert offsets == sorted(set(offsets))
        assert json.loads(frames[-1].data) == events.stats["alice"].model_dump()
        return events.created("alice", "live")

    async def test_fifty_missed_events_replay_in_order_via_header(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        last_id, missed = await self._last_id_then_missed(
            relay, open_stream, publisher, events, token, 50
        )
        await _wait_indexed(relay, open_stream, publisher, events, token)
        stream = await open_stream(
            relay.base_url, token("alice"), headers={"Last-Event-ID": last_id}
        )
        live = await self._assert_replayed(stream, missed, events)
        await publisher.publish(live)
        frame = await stream.next()
        assert json.loads(frame.data)["id"] == str(live.notification.id)

    async def test_missed_events_replay_via_query_parameter_on_another_relay(
        self, start_relay, open_stream, publisher, events, token
    ):
        """The id works on any instance: each reads the whole stream."""
        first = await start_relay()
        last_id, missed = await self._last_id_then_missed(
            first, open_stream, publisher, events, token, 50
        )
        second = await start_relay()
        await _wait_indexed(second, open_stream, publisher, events, token)
        stream = await open_stream(second.base_url, token("alice"), params={"lastEventId": last_id})
        await self._assert_replayed(stream, missed, events)

    async def test_nothing_missed_gives_stats_and_no_recent(
        self, start_relay, open_stream, publisher, events, token, fake_api
    ):
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        last_id, _ = await self._last_id_then_missed(
            relay, open_stream, publisher, events, token, 0
        )
        fake_api.authorizations.clear()
        stream = await open_stream(
            relay.base_url, token("alice"), headers={"Last-Event-ID": last_id}
        )
        assert (await stream.connected())["recovered"] is True
        assert (await stream.next()).event == "stats"
        live = events.created("alice", "live")
        await publisher.publish(live)
        assert (await stream.next()).event == "notification"
        assert fake_api.authorizations == []

    async def test_unusable_ids_are_not_recovered(
        self, start_relay, open_stream, publisher, events, token
    ):
        """Malformed, another user's, another epoch's, or evicted ids: recovered false."""
        relay = await start_relay(replay_max_events_per_user=3)
        last_id, _ = await self._last_id_then_missed(
            relay, open_stream, publisher, events, token, 5
        )
        bob = await open_stream(relay.base_url, token("bob"))
        await bob.connected()
        await publisher.publish(events.created("bob"))
        bob_id = (await bob.until("notification"))[-1].id
        offset = last_id.split("-")[0]
        for bad in [
            "garbage",
            "\u00e9\u00e9".encode(),
            bob_id,
            f"{offset}-000000000000",
            last_id,
            "9" * 200,
        ]:
            stream = await open_stream(
                relay.base_url, token("alice"), headers={"Last-Event-ID": bad}
            )
            assert (await stream.connected())["recovered"] is False, bad
            await stream.close()


async def _wait_indexed(relay, open_stream, publisher, events, token):
    """Wait until ``relay`` has read everything published so far (a marker's round trip)."""
    marker = await open_stream(relay.base_url, token("marker"))
    await marker.connected()
    await publisher.publish(events.created("marker"))
    await marker.until("notification")
    await marker.close()

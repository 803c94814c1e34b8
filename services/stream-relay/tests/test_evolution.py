"""Rolling upgrades through a relay (DESIGN §11): newer events, unknown major versions."""

from __future__ import annotations

import json

import httpx
import orjson

from stream_relay.indexed_event import IndexedEvent


def _newer(event) -> dict:
    """``event`` as a newer API writes it: fields this release does not know, at every level."""
    wire = orjson.loads(event.model_dump_json(by_alias=True))
    wire["traceId"] = "abc123"
    wire["notification"]["priority"] = "high"
    wire["notification"]["actions"] = [{"label": "Open", "url": "/x"}]
    wire["stats"]["archived"] = 7
    return wire


class TestNewerProducer:
    """An event with fields this release does not know is delivered, those fields included."""

    def test_the_frames_carry_the_notification_as_written(self, events):
        wire = _newer(events.created("alice"))
        entry = IndexedEvent.from_body(5, orjson.dumps(wire))
        entry.encode()
        data = entry.frame.decode().split("data: ", 1)[1].split("\n", 1)[0]
        assert json.loads(data) == wire["notification"]
        assert b'"archived":7' in entry.live[len(entry.frame) :]

    async def test_live_and_replayed_with_extra_fields(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        assert (await stream.next()).event == "connected"
        first, second = events.created("alice"), events.created("alice")
        for event in (first, second):
            await publisher.raw(orjson.dumps(_newer(event)), event.event_type)
        frames = [f for f in await stream.take(4) if f.event == "notification"]
        delivered = [json.loads(f.data) for f in frames]
        assert [d["id"] for d in delivered] == [
            str(first.notification.id),
            str(second.notification.id),
        ]
        assert all(
            d["priority"] == "high" and d["actions"][0]["label"] == "Open" for d in delivered
        )
        # A tab that missed the second one gets it replayed, extra fields intact.
        again = await open_stream(
            relay.base_url, token("alice"), headers={"Last-Event-ID": frames[0].id}
        )
        replayed = [f for f in await again.take(3) if f.event == "notification"]
        assert json.loads(replayed[0].data) == _newer(second)["notification"]


class TestUnknownMajorVersion:
    """schemaVersion 2 is parked and counted; the events after it still flow."""

    async def test_skipped_counted_logged_once_and_the_next_event_flows(
        self, start_relay, open_stream, publisher, events, token, caplog
    ):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        assert (await stream.next()).event == "connected"
        for _ in range(3):
            future = _newer(events.created("alice"))
            future["schemaVersion"] = 2
            future["notification"] = {"renamed": True}  # a breaking change
            await publisher.raw(orjson.dumps(future), "notification.created")
        after = events.created("alice")
        await publisher.publish(after)
        frame = await stream.next()
        assert frame.event == "notification"
        assert json.loads(frame.data)["id"] == str(after.notification.id)
        async with httpx.AsyncClient(base_url=relay.base_url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'stream_relay_parked_events_total{reason="unknown_schema"} 3.0' in metrics
        logged = [r for r in caplog.records if "schemaVersion 2" in r.getMessage()]
        assert len(logged) == 1, [r.getMessage() for r in caplog.records]


class TestNewerApiSnapshot:
    """The `recent` list carries the notifications as a newer API wrote them."""

    async def test_recent_keeps_the_fields_this_release_does_not_know(
        self, start_relay, open_stream, fake_api, events, token
    ):
        item = events.created("alice").notification.model_dump(mode="json", by_alias=True)
        item["priority"] = "high"
        fake_api.items = [item]
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        stream = await open_stream(relay.base_url, token("alice"))
        assert (await stream.next()).event == "connected"
        frames = {f.event: f for f in await stream.take(2)}
        assert json.loads(frames["recent"].data) == {"notifications": [item]}

    async def test_and_so_does_an_older_api_without_the_snapshot_endpoint(
        self, start_relay, open_stream, fake_api, events, token
    ):
        item = events.created("alice").notification.model_dump(mode="json", by_alias=True)
        item["priority"] = "low"
        fake_api.items = [item]
        fake_api.combined = False
        relay = await start_relay(notifications_api_url=fake_api.base_url)
        stream = await open_stream(relay.base_url, token("alice"))
        assert (await stream.next()).event == "connected"
        frames = {f.event: f for f in await stream.take(2)}
        assert json.loads(frames["recent"].data) == {"notifications": [item]}

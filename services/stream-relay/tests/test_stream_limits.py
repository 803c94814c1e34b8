"""Stream edge cases against a real RabbitMQ: framing, limits, auth, poison, reconnects."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote, urlsplit

import httpx


class TestFraming:
    """Payloads can never break out of their frame."""

    async def test_data_with_line_breaks_and_field_text_arrives_as_one_event(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        evil = "line1\r\nevent: hacked\n\ndata: injected\rid: 999\n"
        created = events.created("alice", {"text": evil, "more": "x\ny"})
        await publisher.publish(created)
        frames = await stream.take(2)
        assert [f.event for f in frames] == ["notification", "stats"]
        assert json.loads(frames[0].data)["data"] == {"text": evil, "more": "x\ny"}
        assert "hacked" not in [f.event for f in frames]


class TestHeartbeat:
    async def test_idle_stream_gets_heartbeat_comments(self, start_relay, open_stream, token):
        """A ': heartbeat' comment arrives every SSE_HEARTBEAT_SECONDS of silence."""
        relay = await start_relay(sse_heartbeat_seconds=0.5)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        started = time.monotonic()
        beats = 0
        while beats < 2:
            frame = await stream.next(timeout=3, skip_comments=False)
            beats += frame.comments == ["heartbeat"]
        assert time.monotonic() - started < 3


class TestLimitsAndAuth:
    """429 over the per-user limit, 401 JSON for bad tokens, expiry ends the stream."""

    async def test_stream_over_the_per_user_limit_gets_429(
        self, start_relay, open_stream, token, http
    ):
        relay = await start_relay(max_streams_per_user=2)
        for _ in range(2):
            await (await open_stream(relay.base_url, token("alice"))).connected()
        refused = await open_stream(relay.base_url, token("alice"), expect=429)
        assert refused.json()["error"]["code"] == "too_many_streams"
        await (await open_stream(relay.base_url, token("bob"))).connected()
        counts = await http.get(
            f"{relay.base_url}/api/v1/notifications/stream/connections",
            headers={"Authorization": f"Bearer {token('alice')}"},
        )
        assert counts.json() == {"total": 3, "user": 2}
        admin = await http.get(
            f"{relay.base_url}/api/v1/notifications/stream/connections",
            headers={"Authorization": f"Bearer {token('root', role='admin')}"},
        )
        assert admin.json() == {"total": 3, "user": 0, "byUser": {"alice": 2, "bob": 1}}

    async def test_bad_tokens_get_401_json_never_500(self, start_relay, http, token):
        relay = await start_relay()
        url = f"{relay.base_url}/api/v1/notifications/stream"
        expired = token("alice", ttl_seconds=-10)
        for headers, params in [
            ({}, {}),
            ({"Authorization": "Bearer not-a-jwt"}, {}),
            ({"Authorization": f"Bearer {expired}"}, {}),
            ({"Authorization": "Basic abc"}, {}),
            ({}, {"token": "x" * 10_000}),
        ]:
            response = await http.get(url, headers=headers, params=params)
            assert response.status_code == 401
            assert set(response.json()["error"]) == {"code", "message"}

    async def test_token_from_query_and_cookie_are_accepted(self, start_relay, open_stream, token):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, params={"token": token("alice")})
        assert (await stream.connected())["userId"] == "alice"
        cookie = await open_stream(
            relay.base_url, headers={"Cookie": f"access_token={token('bob')}"}
        )
        assert (await cookie.connected())["userId"] == "bob"

    async def test_a_client_that_leaves_is_released_at_once(
        self, start_relay, open_stream, token, http
    ):
        """No heartbeat is needed to notice a closed connection: its slot frees within ~1 s."""
        relay = await start_relay(max_streams_per_user=1, sse_heartbeat_seconds=60)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        await stream.close()
        url = f"{relay.base_url}/api/v1/notifications/stream/connections"
        headers = {"Authorization": f"Bearer {token('alice')}"}
        for _ in range(40):  # polls the relay's own count: no event to await
            if not (await http.get(url, headers=headers)).json()["user"]:
                break
            await asyncio.sleep(0.05)
        assert (await http.get(url, headers=headers)).json() == {"total": 0, "user": 0}
        await (await open_stream(relay.base_url, token("alice"))).connected()

    async def test_other_methods_get_405_json(self, start_relay, http, token):
        relay = await start_relay()
        url = f"{relay.base_url}/api/v1/notifications/stream"
        headers = {"Authorization": f"Bearer {token('alice')}"}
        response = await http.post(url, headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.json()["error"]["code"] == "method_not_allowed"

    async def test_stream_ends_when_the_token_expires(self, start_relay, open_stream, token):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice", ttl_seconds=2))
        await stream.connected()
        assert await stream.ended(timeout=6)


async def _metric(base_url: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{base_url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


class TestConsumer:
    """The log reader survives bad messages, duplicates and lost connections."""

    async def test_poison_messages_are_parked_and_later_events_flow(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        await publisher.raw(b"{not json", "notification.created")
        future = events.created("alice").model_dump(mode="json", by_alias=True)
        future["schemaVersion"] = 99
        await publisher.raw(json.dumps(future).encode(), "notification.created")
        good = events.created("alice")
        await publisher.publish(good)
        frame = await stream.next()
        assert json.loads(frame.data)["id"] == str(good.notification.id)
        assert (
            await _metric(relay.base_url, 'stream_relay_parked_events_total{reason="invalid_json"}')
            == 1
        )
        assert (
            await _metric(
                relay.base_url, 'stream_relay_parked_events_total{reason="unknown_schema"}'
            )
            == 1
        )
        assert await _metric(relay.base_url, "stream_relay_consumer_restarts_total") == 0

    async def test_republished_event_is_delivered_once(
        self, start_relay, open_stream, publisher, events, token
    ):
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        first = events.created("alice", "once")
        await publisher.publish(first)
        await publisher.publish(first)  # a republish after a lost confirm
        second = events.created("alice", "next")
        await publisher.publish(second)
        frames = await stream.take(4)
        ids = [json.loads(f.data)["id"] for f in frames if f.event == "notification"]
        assert ids == [str(first.notification.id), str(second.notification.id)]

    async def test_consumer_resubscribes_from_its_own_offset_after_a_lost_connection(
        self, start_relay, open_stream, publisher, events, token, rabbitmq_url
    ):
        """Broker drops the relay's connection: no event lost, none repeated."""
        relay = await start_relay()
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.connected()
        before = events.created("alice", "before")
        await publisher.publish(before)
        await stream.until("stats")
        await _close_relay_connections(rabbitmq_url)
        after = [events.created("alice", f"after {i}") for i in range(3)]
        for event in after:
            await publisher.publish(event)
        frames = [f for f in await stream.take(6, timeout=20) if f.event == "notification"]
        assert [json.loads(f.data)["id"] for f in frames] == [str(e.notification.id) for e in after]
        assert await _metric(relay.base_url, "stream_relay_consumer_restarts_total") >= 1


async def _close_relay_connections(rabbitmq_url: str, timeout: float = 10.0) -> None:
    """Close, through the management API, every stream-relay connection on the vhost."""
    parts = urlsplit(rabbitmq_url)
    api = f"http://{parts.hostname}:15672/api"
    vhost = quote(parts.path.lstrip("/"), safe="")
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(auth=("guest", "guest"), timeout=5) as http:
        while time.monotonic() < deadline:
            listed = (await http.get(f"{api}/vhosts/{vhost}/connections")).json()
            names = [
                c["name"]
                for c in listed
                if c.get("client_properties", {}).get("connection_name") == "stream-relay"
            ]
            if names:
                for name in names:
                    await http.delete(f"{api}/connections/{quote(name, safe='')}")
                return
            await asyncio.sleep(0.2)  # the management API lists connections with a delay
    raise AssertionError("no stream-relay connection listed")


class TestPages:
    async def test_demo_page_and_probes(self, start_relay, http):
        relay = await start_relay()
        page = await http.get(f"{relay.base_url}/")
        assert page.status_code == 200
        assert '<ul id="list"' in page.text
        assert (await http.get(f"{relay.base_url}/healthz")).json() == {"status": "ok"}
        ready = (await http.get(f"{relay.base_url}/readyz")).json()
        assert ready["consumer"]["subscribed"] is True
        metrics = (await http.get(f"{relay.base_url}/metrics")).text
        assert "stream_relay_connections" in metrics
        missing = await http.get(f"{relay.base_url}/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"

    async def test_page_and_its_files_are_served_with_security_headers(self, start_relay, http):
        """No Referer leaves the page, only this origin's scripts run, no type sniffing."""
        relay = await start_relay()
        for path, media in [
            ("/", "text/html"),
            ("/static/demo.js", "text/javascript"),
            ("/static/demo.css", "text/css"),
        ]:
            answer = await http.get(f"{relay.base_url}{path}")
            assert answer.status_code == 200, path
            assert answer.headers["content-type"].startswith(media)
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["x-content-type-options"] == "nosniff"
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self';" in csp
            assert "default-src 'none'" in csp
        for path in ["/static/index.html", "/static/..%2Frelay.py", "/static/nope.js"]:
            missing = await http.get(f"{relay.base_url}{path}")
            assert missing.status_code == 404, path
            assert missing.json()["error"]["code"] == "not_found"

"""Hostile input against the whole path: tokens, frame injection, Last-Event-ID, CORS, logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.conftest import SECRET, migrate
from tests.api.test_auth import BAD_TOKENS
from tests.support.servers import child, free_port, wait_http_ok
from tests.support.sse_client import Frame, parse_frames
from tests.system.conftest import System, data

from qahub_contracts.api import MAX_DATA_BYTES
from qahub_contracts.auth import mint_token

# The attacks here target tokens, frames and ids, not the database: SQLite is enough.
sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

STREAM = "/api/v1/notifications/stream"


@sqlite
class TestStreamTokens:
    """Every bad token on the stream, by header, query or cookie: 401 JSON, never a 500."""

    @pytest.mark.parametrize("name", sorted(BAD_TOKENS))
    async def test_bad_tokens_get_401(self, system: System, name: str):
        token = BAD_TOKENS[name]()
        async with httpx.AsyncClient(base_url=system.relay_urls[0], timeout=10) as http:
            for request in (
                http.build_request("GET", STREAM, headers={"Authorization": f"Bearer {token}"}),
                http.build_request("GET", STREAM, params={"token": token}),
                http.build_request("GET", STREAM, headers={"Cookie": f"access_token={token}"}),
            ):
                response = await http.send(request)
                assert response.status_code == 401, (name, response.text)
                assert set(response.json()["error"]) == {"code", "message"}

    async def test_no_credentialed_cors_for_other_origins(self, system: System):
        token = system.api.auth("42")["Authorization"][7:]
        async with httpx.AsyncClient(base_url=system.relay_urls[0], timeout=10) as http:
            preflight = await http.options(
                STREAM,
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            )
            assert "access-control-allow-credentials" not in preflight.headers
            assert preflight.headers.get("access-control-allow-origin") in (None, "")
            async with http.stream(
                "GET", STREAM, params={"token": token}, headers={"Origin": "https://evil.example"}
            ) as response:
                assert "access-control-allow-origin" not in response.headers

    async def test_a_cross_origin_post_with_a_cookie_is_refused(self, system: System):
        token = system.api.auth("42")["Authorization"][7:]
        body = {"type": "t", "notifiableType": "user", "notifiableId": "42", "data": "csrf"}
        response = await system.api.http.post(
            "/api/v1/notifications",
            json=body,
            headers={"Cookie": f"access_token={token}", "Origin": "https://evil.example"},
        )
        assert response.status_code == 401
        assert await system.api.stats("42") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}


# No NUL: no database stores it, so the API refuses it with 422 (tests/api/test_storable_text.py).
_PIECES = [
    "\r",
    "\n",
    "\r\n",
    "\u2028",
    "\u2029",
    "event: x",
    "id: 1",
    "data:",
    ":",
    "\ufeff",
]
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(_PIECES),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    ),
    max_size=12,
).map("".join)


@sqlite
class TestFrameInjection:
    """Whatever a user puts in ``data`` or ``type`` arrives intact as exactly one event."""

    async def test_hostile_text_is_one_intact_event(self, system: System):
        async with system.stream("42") as tab:
            await tab.until("recent")

            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
            @given(text=HOSTILE, type_=HOSTILE.filter(lambda t: t.strip()))
            def examples(text: str, type_: str) -> None:
                cases.append((text, type_[:255]))

            cases: list[tuple[str, str]] = []
            examples()
            # Exactly at the limit: {"text":"x…x\r\n"} encodes to MAX_DATA_BYTES bytes.
            cases.append(("x" * (MAX_DATA_BYTES - 15) + "\r\n", "big"))
            for text, type_ in cases:
                created = await system.api.create("42", {"text": text}, type_=type_)
                note, stats = await tab.take(2)
                assert (note.event, stats.event) == ("notification", "stats")
                assert data(note) == created
                assert data(note)["data"] == {"text": text}
                assert note.id
                assert not any(c in note.id for c in "\r\n\x00")


class TestParser:
    """The tests' SSE reader (httpx-sse, as the client) reads multi-line data as one event."""

    def test_the_parser_agrees_on_raw_frames(self):
        frames, rest = parse_frames('event: notification\ndata: {"a":\ndata: 1}\nid: 5-ab\n\n')
        assert rest == ""
        assert len(frames) == 1
        assert json.loads(frames[0].data) == {"a": 1}


@sqlite
class TestLastEventId:
    """Hostile Last-Event-ID values: no leak, no 500, answered at once."""

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "garbage",
            "99999999999-ffffffffffff",
            "1" * 10_000,
            "3-abc\r\nevent: x",
            "-1-00",
            "0-" + "f" * 12,
        ],
        ids=["empty", "garbage", "ahead", "10kb", "crlf", "negative", "zero"],
    )
    async def test_is_never_an_error(self, system: System, value: str):
        token = system.api.auth("42")["Authorization"][7:]
        started = time.monotonic()
        async with (
            httpx.AsyncClient(base_url=system.relay_urls[0], timeout=15) as http,
            http.stream("GET", STREAM, params={"token": token, "lastEventId": value}) as response,
        ):
            assert response.status_code == 200
            buffer = ""
            async for text in response.aiter_text():
                frames, buffer = parse_frames(buffer + text)
                # A lone `retry:` may come first, before the relay waits for the log.
                frames = [frame for frame in frames if frame != Frame(retry=frame.retry)]
                if frames:
                    assert frames[0].event == "connected"
                    assert json.loads(frames[0].data)["recovered"] is False
                    break
        assert time.monotonic() - started < 10

    async def test_another_users_id_replays_nothing_of_theirs(self, system: System):
        async with system.stream("alice") as alice:
            await alice.until("recent")
            await system.api.create("alice", "secret")
            alices_id = (await alice.next()).id
        await system.api.create("alice", "secret 2")
        async with system.stream("bob", last_event_id=alices_id) as bob:
            frames = await bob.until("recent")
            assert data(frames[0])["recovered"] is False
            assert "secret" not in bob.raw


@sqlite
class TestLogs:
    """A token passed in ``?token=`` appears in no log line of the real processes."""

    async def test_query_tokens_are_never_logged(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path
    ):
        await migrate(database_url)
        api_port, relay_port = free_port(), free_port()
        api_url, relay_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{relay_port}"
        env = {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "JWT_SECRET": SECRET,
            "NOTIFICATIONS_API_URL": api_url,
        }
        token = mint_token(SECRET, "42")
        with (
            child(["api", "--port", str(api_port)], env, tmp_path / "api.log") as api,
            child(["relay", "--port", str(relay_port)], env, tmp_path / "relay.log") as relay,
        ):
            await wait_http_ok(f"{api_url}/readyz")
            await wait_http_ok(f"{relay_url}/readyz")
            async with httpx.AsyncClient(timeout=10) as http:
                async with http.stream(
                    "GET", f"{relay_url}{STREAM}", params={"token": token}
                ) as response:
                    assert response.status_code == 200
                    async for _ in response.aiter_text():
                        break  # the connect frames arrived: the stream was served
                await http.get(f"{relay_url}{STREAM}", params={"token": token + "x"})
                await http.get(f"{relay_url}{STREAM}/connections", params={"token": token})
                await http.get(f"{api_url}/api/v1/notifications", params={"token": token})
            api.terminate()
            relay.terminate()
            logs = api.log() + relay.log()
        assert "GET /api/v1/notifications/stream" in logs, "the relay logged no request line"
        assert token not in logs
        assert token[-20:] not in logs

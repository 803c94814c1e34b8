"""``qahub-notify send``: one notification from a shell, with a service token."""

from __future__ import annotations

import json

import pytest
from tests.cli.conftest import Cli, Stack

from qahub_notify.send import parse_data


class TestParseData:
    """DATA is a JSON object when it parses as one, otherwise the text itself."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('{"invoice": 1001}', {"invoice": 1001}),
            ("hello there", "hello there"),
            ("[1, 2]", "[1, 2]"),
            ('"quoted"', '"quoted"'),
            ("42", "42"),
        ],
    )
    def test_objects_are_json_everything_else_is_a_string(self, text, expected):
        assert parse_data(text) == expected


class TestSend:
    """A 201 prints the notification; refusals exit 1 with the API's message."""

    async def test_creates_a_notification_with_a_minted_service_token(self, cli: Cli, stack: Stack):
        code, out, err = await cli.run(
            "send", "--api", stack.api_url, "--to", "42", "--type", "invoice.paid",
            '{"invoice": 1001}',
        )  # fmt: skip
        assert code == 0, err
        created = json.loads(out)
        assert (created["type"], created["notifiableId"]) == ("invoice.paid", "42")
        assert created["data"] == {"invoice": 1001}
        assert await stack.api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}

    async def test_api_url_from_the_environment_and_a_string_payload(self, cli: Cli, stack: Stack):
        cli.env["NOTIFICATIONS_API_URL"] = stack.api_url
        code, out, err = await cli.run("send", "--to", "7", "--type", "hello", "Hi there")
        assert code == 0, err
        assert json.loads(out)["data"] == "Hi there"

    async def test_same_idempotency_key_creates_once(self, cli: Cli, stack: Stack):
        args = ["send", "--api", stack.api_url, "--to", "42", "--type", "t"]
        args += ["--idempotency-key", "invoice-1001-paid", "paid"]
        first, second = [json.loads((await cli.run(*args))[1]) for _ in range(2)]
        assert first["id"] == second["id"]
        assert (await stack.api.stats("42"))["total"] == 1

    async def test_a_user_token_may_not_notify_someone_else(self, cli: Cli, stack: Stack):
        token = stack.api.auth("mallory")["Authorization"].removeprefix("Bearer ")
        code, out, err = await cli.run(
            "send", "--api", stack.api_url, "--token", token, "--to", "42", "--type", "t", "x"
        )
        assert (code, out) == (1, "")
        assert "HTTP 403" in err

    async def test_without_a_secret_it_says_which_variable(self, cli: Cli):
        cli.env["JWT_SECRET"] = ""
        code, _, err = await cli.run("send", "--to", "42", "--type", "t", "x")
        assert code == 2
        assert "JWT_SECRET" in err

    async def test_an_unreachable_api_is_one_line(self, cli: Cli):
        code, _, err = await cli.run("send", "--to", "42", "--type", "t", "x", "--timeout", "2")
        assert code == 1
        assert err.startswith("error: the API at http://127.0.0.1:9 cannot be reached")
        assert "Traceback" not in err

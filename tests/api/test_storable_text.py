"""Text a database cannot store is a 422 on every write path, on SQLite and PostgreSQL alike.

PostgreSQL refuses NUL in text and jsonb and no driver encodes a lone surrogate;
left to the database either answered 503 ("database unavailable") or 500.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.api.conftest import SECRET, Api, assert_error

from qahub_contracts.auth import mint_token
from qahub_contracts.text import MAX_DATA_DEPTH

URL = "/api/v1/notifications"
PREFS = f"{URL}/preferences"


def _nested(depth: int) -> dict[str, Any]:
    """An object whose objects nest ``depth`` levels deep, counting itself."""
    document: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        document = {"a": document}
    return document


def _body(**fields: Any) -> dict[str, Any]:
    return {"type": "t", "notifiableType": "user", "notifiableId": "42", "data": "x", **fields}


async def _send(
    api: Api, method: str, url: str, body: object, headers: dict[str, str]
) -> httpx.Response:
    # json.dumps escapes a lone surrogate as \ud800, as a JavaScript client would send it.
    content = json.dumps(body).encode()
    headers = {**headers, "content-type": "application/json"}
    return await api.http.request(method, url, content=content, headers=headers)


UNSTORABLE = [
    pytest.param(_body(data="a\x00b"), id="nul-in-data-string"),
    pytest.param(_body(data={"title": "a\x00"}), id="nul-in-data-value"),
    pytest.param(_body(data={"list": [{"deep": "\x00"}]}), id="nul-nested"),
    pytest.param(_body(data={"a\x00": 1}), id="nul-in-data-key"),
    pytest.param(_body(type="alert\x00"), id="nul-in-type"),
    pytest.param(_body(notifiableId="4\x002"), id="nul-in-recipient"),
    pytest.param(_body(data="\ud800"), id="surrogate-in-data-string"),
    pytest.param(_body(data={"title": "\udfff"}), id="surrogate-in-data-value"),
    pytest.param(_body(data={"\ud800": 1}), id="surrogate-in-data-key"),
    pytest.param(_body(type="\ud800"), id="surrogate-in-type"),
    pytest.param(_body(data=_nested(MAX_DATA_DEPTH + 1)), id="data-too-deep"),
    pytest.param(
        _body(data={"a": json.loads("[" * MAX_DATA_DEPTH + "]" * MAX_DATA_DEPTH)}),
        id="arrays-too-deep",
    ),
]


class TestCreate:
    """A create carrying text no database can store gets 422 and stores nothing."""

    @pytest.mark.parametrize("body", UNSTORABLE)
    async def test_unstorable_create_gets_422(self, api: Api, body: dict[str, Any]):
        response = await _send(api, "POST", URL, body, api.service())
        assert_error(response, 422, "validation_error")
        assert (await api.stats("42"))["total"] == 0

    async def test_data_as_deep_as_allowed_is_created_and_read_back(self, api: Api):
        created = await api.create("42", _nested(MAX_DATA_DEPTH))
        response = await api.http.get(f"{URL}/{created['id']}", headers=api.auth("42"))
        assert response.json()["data"] == _nested(MAX_DATA_DEPTH)

    async def test_an_escaped_nul_is_plain_text(self, api: Api):
        created = await api.create("42", {"code": "\\u0000"}, type_="\\x00")
        assert (created["data"], created["type"]) == ({"code": "\\u0000"}, "\\x00")


class TestOtherWrites:
    """PATCH, preferences and tokens refuse unstorable text the same way."""

    @pytest.mark.parametrize("body", [{"read": "\x00"}, {"read": True, "\x00": 1}])
    async def test_patch_gets_422(self, api: Api, body: dict[str, Any]):
        created = await api.create("42")
        response = await _send(api, "PATCH", f"{URL}/{created['id']}", body, api.auth("42"))
        assert_error(response, 422, "validation_error")

    async def test_a_nul_in_the_path_id_is_404(self, api: Api):
        response = await api.http.get(f"{URL}/%00", headers=api.auth("42"))
        assert_error(response, 404, "not_found")

    @pytest.mark.parametrize("type_", ["digest\x00", "\ud800", "\x00"])
    async def test_preferences_with_an_unstorable_type_get_422(self, api: Api, type_: str):
        body = {"types": {type_: {"inApp": False}}}
        response = await _send(api, "PUT", PREFS, body, api.auth("42"))
        assert_error(response, 422, "validation_error")
        assert (await api.http.get(PREFS, headers=api.auth("42"))).json()["types"] == {}

    @pytest.mark.parametrize("sub", ["\ud800", "4\x002"])
    async def test_a_token_for_an_unstorable_user_gets_401(self, api: Api, sub: str):
        token = mint_token(SECRET, sub)
        response = await api.http.get(URL, headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "unauthorized")

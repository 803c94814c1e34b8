"""examples/: the publisher retries under one Idempotency-Key; the subscriber never misses."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from types import ModuleType

import httpx
import pytest
from tests.api.conftest import SECRET
from tests.cli.conftest import Stack
from tests.support.servers import ROOT

from qahub_contracts.auth import mint_token


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


publisher, subscriber = load("publisher"), load("subscriber")


class TestPublisher:
    """A service's retries are safe: one Idempotency-Key, one notification."""

    async def test_a_retry_after_a_lost_answer_creates_nothing_new(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setenv("JWT_SECRET", SECRET)
        monkeypatch.delenv("QAHUB_TOKEN", raising=False)
        attempts = 0

        async def answer_lost_once(request: httpx.Request) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:  # the API commits the first try, but its answer never arrives
                await stack.api.http.send(request)
                raise httpx.ReadTimeout("answer lost", request=request)

        headers = {"Authorization": f"Bearer {publisher.service_token()}"}
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=headers, event_hooks={"request": [answer_lost_once]}
        ) as http:
            created = await publisher.notify(http, "42", "invoice.paid", {"n": 1}, key="inv-1")
        assert attempts == 2
        assert created["data"] == {"n": 1}
        assert await stack.api.stats("42") == {"total": 1, "unread": 1, "read": 0}


class TestSubscriber:
    """The stream ends (here: the token expires); the next connect resumes after the last id."""

    async def test_reconnects_with_a_fresh_token_and_last_event_id(self, stack: Stack):
        sent: list[asyncio.Task[dict[str, object]]] = []

        def short_lived() -> str:
            if len(sent) == 0 and tokens:  # reconnecting: a notification arrives meanwhile
                sent.append(asyncio.create_task(stack.api.create("42", "second")))
            tokens.append(mint_token(SECRET, "42", ttl_seconds=2))
            return tokens[-1]

        tokens: list[str] = []
        events = subscriber.subscribe(stack.relay_url, short_lived, backoff=0.1)
        seen: list[tuple[str, dict[str, object]]] = []

        async def read_until_second() -> None:
            async for event in events:
                seen.append((event.event, event.data))
                if event.event == "recent":
                    await stack.api.create("42", "first")
                if event.event == "notification" and event.data["data"] == "second":
                    return

        await asyncio.wait_for(read_until_second(), 20)
        await events.aclose()
        assert [d["data"] for e, d in seen if e == "notification"] == ["first", "second"]
        connects = [d["recovered"] for e, d in seen if e == "connected"]
        assert connects[:2] == [False, True]
        assert len(tokens) >= 2

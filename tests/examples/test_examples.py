"""examples/: the publisher retries under one Idempotency-Key; the subscriber never misses."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from types import ModuleType

from tests.api.conftest import SECRET
from tests.cli.conftest import Stack
from tests.support.flaky_proxy import flaky_proxy
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


subscriber = load("subscriber")


class TestPublisher:
    """A service's retries are safe: one Idempotency-Key, one notification."""

    async def test_a_retry_after_a_lost_answer_creates_nothing_new(self, stack: Stack):
        async with flaky_proxy(stack.api_url, ["lose"]) as (proxy, url):
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "examples" / "publisher.py"),
                "42", "invoice.paid", '{"n": 1}', "--key", "inv-1", "--api", url,
                env={**os.environ, "JWT_SECRET": SECRET, "QAHUB_TOKEN": ""},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert proxy.keys == ["inv-1", "inv-1"]  # the API committed the first; its answer was lost
        assert json.loads(out)["data"] == {"n": 1}
        assert await stack.api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}


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
        events = subscriber.subscribe(stack.relay_url, short_lived)
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

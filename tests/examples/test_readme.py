"""README "Notify a user from your service": each snippet runs against the real system."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from tests.api.conftest import SECRET
from tests.cli.conftest import Stack
from tests.support.commands import wait_for_command_consumer
from tests.support.servers import ROOT, eventually

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

SECTION = "## Notify a user from your service"


def snippets() -> dict[str, str]:
    """The section's Python blocks, keyed ``http`` and ``broker``."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "the section shows one HTTP and one broker snippet"
    return {"broker" if "CommandSender" in b else "http": b for b in blocks}


async def run(code: str, stack: Stack, rabbitmq_url: str) -> str:
    """Run a snippet as a service would; its stdout (fails on a non-zero exit)."""
    env = {
        **os.environ,
        "NOTIFICATIONS_API_URL": stack.api_url,
        "RABBITMQ_URL": rabbitmq_url,
        "QAHUB_TOKEN": mint_token(SECRET, "billing-service", scope=PUBLISH_SCOPE),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


class TestNotifyFromYourService:
    """A service copying the README notifies user 42, once per key."""

    async def test_over_http(self, stack: Stack, rabbitmq_url: str):
        code = snippets()["http"]
        first = (await run(code, stack, rabbitmq_url)).split()[0]
        again = (await run(code, stack, rabbitmq_url)).split()[0]
        assert first == again  # the same Idempotency-Key: the first result again
        assert await stack.api.stats("42") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}

    async def test_over_the_broker(self, stack: Stack, rabbitmq_url: str):
        await wait_for_command_consumer(rabbitmq_url)
        command_id, notification_id = (await run(snippets()["broker"], stack, rabbitmq_url)).split()
        assert command_id != notification_id

        async def both_created() -> bool:  # the sent one may commit after the requested one
            return (await stack.api.stats("42"))["total"] == 2

        await eventually(both_created, timeout=10, what="both commands' notifications")

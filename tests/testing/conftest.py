"""The testing kit's own tests: real stacks (local mode) on the shared RabbitMQ."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from tests.support.services import Broker

from qahub_notify.testing import NotificationsStack
from qahub_notify_client import Notification


@pytest.fixture(scope="module")
def stacks(broker: Broker) -> Iterator[tuple[NotificationsStack, NotificationsStack]]:
    """Two local stacks on the one broker, started side by side (a start takes seconds)."""
    first, second = (NotificationsStack("local", rabbitmq_url=broker.amqp_url) for _ in "ab")
    with ExitStack() as exits, ThreadPoolExecutor(2) as pool:
        exits.callback(first.stop)
        exits.callback(second.stop)
        list(pool.map(NotificationsStack.start, (first, second)))
        yield first, second


@pytest.fixture(scope="module")
def stack(stacks: tuple[NotificationsStack, NotificationsStack]) -> NotificationsStack:
    return stacks[0]


def notify(stack: NotificationsStack, user: str, kind: str, data: str | dict) -> Notification:
    """What the service under test would do: create a notification with a service token."""
    service = stack.client(stack.token("billing", scope="notifications:publish"))
    return service.send(to=user, type=kind, data=data)


def run_pytest(
    args: list[str], cwd: Path, broker: Broker, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Another test session, as a QaHub team's CI runs it: this environment, our broker."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env={
            **os.environ,
            "RABBITMQ_URL": broker.amqp_url,
            "RABBITMQ_MANAGEMENT_URL": broker.management_url or "",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

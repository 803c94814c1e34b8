# ruff: noqa: S101 - asserts narrow types for the reader
"""The target of a load, our stack or Nchan, and what every scenario prints while it runs.

A :class:`Target` hides the one difference between the two systems the scenarios
care about: where a stream subscribes and where a notification is posted. The
pieces that drive one live beside this module: ``workers.py`` (SSE worker
processes), ``posting.py`` (paced or open-loop POSTs), ``hops.py`` (an observer
on the event log), ``floor.py`` (RabbitMQ alone) and ``delivery.py`` (one run).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from command_pool import CommandPool
from common import SECRET, Stack, proc_cpu
from nchan import Nchan
from wire import PostPool

from qahub_contracts.auth import PUBLISH_SCOPE, mint_token

WORKER = Path(__file__).resolve().parent / "sse_worker.py"


@dataclass
class Target:
    name: str
    sse_port: int
    sse_path: str
    post_port: int
    post_headers: dict[str, str]
    pids: dict[str, int]
    stack: Stack | None = None
    ready_event: str | None = None  # a stream counts as open once this frame arrived
    via_commands: bool = False  # publish DESIGN §9 commands instead of POSTing

    def sender(self, concurrency: int) -> PostPool | CommandPool:
        """Where the load loop sends each body: the API over HTTP, or the command exchange."""
        if self.via_commands and self.stack is not None:
            token = self.post_headers["Authorization"].removeprefix("Bearer ")
            return CommandPool(self.stack.amqp_url, token)
        return PostPool(self.post_port, concurrency, self.post_headers)

    def post_path(self, user: str) -> str:
        return f"/pub/{user}" if self.name == "nchan" else "/api/v1/notifications"

    def cpu(self) -> dict[str, float]:
        return {k: proc_cpu(pid) for k, pid in self.pids.items()}


def ours(stack: Stack, *, via_commands: bool = False) -> Target:
    assert stack.api is not None
    assert stack.relay is not None
    token = mint_token(SECRET, "bench-publisher", scope=PUBLISH_SCOPE, ttl_seconds=7200)
    return Target(
        name="ours",
        sse_port=stack.relay_port,
        sse_path="/api/v1/notifications/stream?token={token}",
        post_port=stack.api_port,
        post_headers={"Authorization": f"Bearer {token}"},
        pids={"relay": stack.relay.pid, "api": stack.api.pid},
        stack=stack,
        # the initial snapshot ends with `stats` (and `recent` when the API answered)
        ready_event="stats" if stack.snapshot_api else None,
        via_commands=via_commands,
    )


def nchan(peer: Nchan) -> Target:
    assert peer.child is not None
    return Target(
        name="nchan",
        sse_port=peer.port,
        sse_path="/sub/{user}",
        post_port=peer.port,
        post_headers={},
        pids={"nchan": peer.child.pid},
    )


def broker_pid() -> int | None:
    """The local RabbitMQ node (beam.smp), to report its CPU; never signalled."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "beam.smp":
                    return int(proc.name)
    return None


def progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

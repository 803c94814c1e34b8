"""Node loss on a 3-node cluster under load (DESIGN §12): nothing the API confirmed is lost.

The API (in-process) lists the nodes as 2, 3, 1 and two relays (child
processes) as 1, 2, 3 and 3, 1, 2, so each connection starts on a known node.
The event log is declared through node 2 with three replicas: node 2 leads it.
Subscribers behave like browser tabs and the ledger compares what they got
with every create the API answered 201.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.api.conftest import SECRET, api_settings, migrate
from tests.reliability.conftest import Cluster as Stack
from tests.support.cluster import Node, RabbitCluster, queue_info
from tests.support.servers import ChildProcess, eventually, serving
from tests.support.subscriber import Subscriber

from notifications_api.app import create_app as create_api
from qahub_contracts.amqp_endpoints import BrokerEndpoints
from qahub_contracts.auth import PUBLISH_SCOPE, mint_token
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE
from qahub_notify_client import AsyncCommandSender

USERS = ["u1", "u2", "u3", "u4"]
_SUBSCRIBED = re.compile(
    r"subscribed to \S+ on amqp://guest@127\.0\.0\.1:(\d+)/\S* at offset (\S+)"
)

pytestmark = pytest.mark.cluster


@dataclass
class ClusterStack:
    rabbit: RabbitCluster
    vhost: str
    stack: Stack

    def subscriptions(self, relay: ChildProcess) -> list[tuple[Node, str]]:
        """Each subscription the relay logged: the node it read from, the offset it asked for."""
        ports = {n.amqp_port: n for n in self.rabbit.nodes}
        return [(ports[int(p)], o) for p, o in _SUBSCRIBED.findall(relay.log())]


@pytest.fixture
async def cluster_stack(
    rabbit_cluster: RabbitCluster, cluster_vhost: str, tmp_path: Path
) -> AsyncIterator[ClusterStack]:
    first = BrokerEndpoints([rabbit_cluster.nodes[1].url(cluster_vhost)])
    connection = await first.connect_aio_pika(name="test-declare")
    try:
        await declare_topology(connection, "1h", replicas=3)
    finally:
        await connection.close()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await migrate(database_url)
    settings = api_settings(
        database_url,
        rabbit_cluster.urls(cluster_vhost, [2, 3, 1]),
        event_log_replicas=3,
        event_log_max_age="1h",
        publish_timeout_seconds=3.0,
    )
    async with serving(create_api(settings)) as api_url:
        stack = Stack(api_url, rabbit_cluster.urls(cluster_vhost), tmp_path)
        try:
            for order in ([1, 2, 3], [3, 1, 2]):
                urls = rabbit_cluster.urls(cluster_vhost, order)
                relay = await stack.start_relay(
                    rabbitmq_url=urls, EVENT_LOG_REPLICAS="3", EVENT_LOG_MAX_AGE="1h"
                )
                stack.relays.append(relay)
            yield ClusterStack(rabbit_cluster, cluster_vhost, stack)
        finally:
            for relay in stack.relays:
                relay.kill()


async def _under_load(
    cs: ClusterStack, victim: Node, report, name: str, while_down=None
) -> list[Subscriber]:
    """Write for 10 s at 60/s, SIGKILL ``victim`` 3 s in; check the ledger; ``while_down()``;
    restart it."""
    stack = cs.stack
    subscribers = [
        Subscriber(u, lambda u=u: _token(u), [url], hop_every=None)
        for u in USERS
        for url in stack.relay_urls
    ]
    for s in subscribers:
        s.start()
    try:
        await eventually(
            lambda: _all_connected(subscribers), timeout=30, what="every subscriber to connect"
        )

        async def fault() -> None:
            await asyncio.sleep(3)
            cs.rabbit.kill(victim)

        _, _, stall = await asyncio.gather(
            stack.write_for(USERS, seconds=10, rate=60), fault(), _longest_stall(subscribers, 10)
        )
        recovery = await stack.settle(subscribers, timeout=90)
        info = await asyncio.to_thread(queue_info, cs.rabbit, cs.vhost, EVENT_LOG_QUEUE)
        assert victim.name not in info["online"], info  # it really died
        assert info["leader"] != victim.name, info  # and the log has a leader elsewhere
    finally:
        for s in subscribers:
            await s.stop()
    counts = stack.check(subscribers)
    assert counts.sent > 150, counts  # 600 at full speed; a loaded machine writes fewer
    assert (counts.lost, counts.duplicated, counts.unexpected, counts.reordered) == (0, 0, 0, 0)
    for relay in stack.relays:
        assert "discontinuity" not in relay.log()
    # A tab reconnects only if its relay closed the stream; none had to start over.
    assert all(all(s.recovered[1:]) for s in subscribers), [s.recovered for s in subscribers]
    if while_down is not None:
        await while_down()
    restarted = time.monotonic()
    await asyncio.to_thread(cs.rabbit.restart, victim)
    await eventually(
        lambda: _online(cs, victim), timeout=60, what=f"{victim.name} back among the log's replicas"
    )
    rejoined = time.monotonic() - restarted
    summary = f"stall {stall:.1f}s; settled +{recovery:.1f}s; rejoined {rejoined:.0f}s"
    report(name, f"{len(USERS)} users x 2 relays, 60/s", counts, summary)
    return subscribers


async def _longest_stall(subscribers: list[Subscriber], seconds: float) -> float:
    """The longest time (s) no subscriber received anything while the load ran."""
    started = last_change = time.monotonic()
    last_total, longest = -1, 0.0
    while (now := time.monotonic()) - started < seconds:
        total = sum(len(s.received) for s in subscribers)
        if total != last_total:
            longest = max(longest, now - last_change)
            last_total, last_change = total, now
        await asyncio.sleep(0.05)
    return max(longest, time.monotonic() - last_change)


async def _all_connected(subscribers: list[Subscriber]) -> bool:
    return all(s.connects >= 1 for s in subscribers)


async def _online(cs: ClusterStack, node: Node) -> bool:
    info = await asyncio.to_thread(queue_info, cs.rabbit, cs.vhost, EVENT_LOG_QUEUE)
    return node.name in info["online"]


def _token(user: str) -> str:
    from tests.reliability.conftest import user_token  # noqa: PLC0415

    return user_token(user)


class TestNodeLoss:
    """SIGKILL of one node of three, under load: lost 0, duplicates 0, and it rejoins."""

    async def test_the_stream_leader_killed(self, cluster_stack: ClusterStack, report):
        cs = cluster_stack
        info = await asyncio.to_thread(queue_info, cs.rabbit, cs.vhost, EVENT_LOG_QUEUE)
        leader = cs.rabbit.node_named(info["leader"])
        assert leader is cs.rabbit.nodes[1]  # declared through node 2; the API's node too
        created = []

        async def command_while_down() -> None:
            # The API's command consumer was on the killed node too: it moved, and consumes.
            service = mint_token(SECRET, "billing", scope=PUBLISH_SCOPE)
            async with AsyncCommandSender(cs.rabbit.nodes[0].url(cs.vhost), service) as sender:
                created.append(await sender.request("u1", "after-fail-over", "x", timeout=30))

        await _under_load(
            cs, leader, report, "cluster: stream leader SIGKILLed", command_while_down
        )
        for relay in cs.stack.relays:  # both read from replicas: neither had to resubscribe
            assert len(cs.subscriptions(relay)) == 1, relay.log()
        assert [n.notifiable_id for n in created] == ["u1"]

    async def test_the_node_a_relay_reads_from_killed(self, cluster_stack: ClusterStack, report):
        cs = cluster_stack
        relay = cs.stack.relays[0]
        assert [n for n, _ in cs.subscriptions(relay)] == [cs.rabbit.nodes[0]]
        await _under_load(cs, cs.rabbit.nodes[0], report, "cluster: relay's node SIGKILLed")
        subscriptions = cs.subscriptions(relay)
        assert len(subscriptions) >= 2, relay.log()
        moved_to, offset = subscriptions[-1]
        assert moved_to is not cs.rabbit.nodes[0]
        assert offset.isdigit()  # resumed at its own offset, not from "first"

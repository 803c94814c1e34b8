"""Relay faults under load: SIGKILL, hopping clients, broker connection closed or cut."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from tests.reliability.conftest import LONG, Cluster
from tests.support.proxy import tcp_proxy
from tests.support.servers import eventually
from tests.support.subscriber import Subscriber

# The faults here are the relay's; the database behind the API does not matter.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

USERS = [f"u{i}" for i in range(10)]


async def _warm_up(cluster: Cluster, subscribers: list[Subscriber]) -> None:
    """Every subscriber connected and holding an event id (so it can resume)."""
    for s in subscribers:
        s.start()
    await eventually(
        lambda: _all_connected(subscribers), timeout=30, what="every subscriber to connect"
    )
    async with httpx.AsyncClient(base_url=cluster.api_url, timeout=10) as http:
        for user in {s.user for s in subscribers}:
            assert await cluster.write(http, user, "warm-up")
    assert await cluster.settle(subscribers, timeout=30) < 30, "subscribers did not warm up"


async def _all_connected(subscribers: list[Subscriber]) -> bool:
    return all(s.connects >= 1 for s in subscribers)


async def _finish(
    cluster: Cluster, subscribers: list[Subscriber], report, fault: str, load: str
) -> None:
    recovery = await cluster.settle(subscribers, timeout=60)
    for s in subscribers:
        await s.stop()
    counts = cluster.check(subscribers)
    report(fault, load, counts, f"{recovery:.1f}s")
    assert counts.lost == 0, counts
    assert counts.unexpected == 0, counts
    assert counts.reordered == 0, counts


class TestRelayKilled:
    """A relay SIGKILLed under load: every subscriber reconnects and ends with every event."""

    async def test_sigkill_under_continuous_publishing(self, cluster: Cluster, report):
        cluster.relays = [await cluster.start_relay(), await cluster.start_relay()]
        tabs = 20 if LONG else 5
        subscribers = cluster.subscribers(USERS, tabs)
        await _warm_up(cluster, subscribers)

        async def kill_and_restart() -> None:
            await asyncio.sleep(1.5)
            await cluster.restart(cluster.relays[0])

        await asyncio.gather(cluster.write_for(USERS, seconds=5, rate=100), kill_and_restart())
        await _finish(
            cluster,
            subscribers,
            report,
            "relay SIGKILL + restart",
            f"{len(subscribers)} subs, 100/s",
        )
        assert sum(s.connects for s in subscribers) > len(subscribers), "nobody had to reconnect"


class TestHopping:
    """Clients hop between two relays at random while events flow: nothing lost."""

    async def test_clients_hopping_between_relays(self, cluster: Cluster, report):
        cluster.relays = [await cluster.start_relay(), await cluster.start_relay()]
        subscribers = cluster.subscribers(USERS, 2)
        await _warm_up(cluster, subscribers)
        for s in subscribers:
            s.hop_every = 0.3  # from now on each one holds an id to resume from
        await cluster.write_for(USERS, seconds=4, rate=100)
        await _finish(
            cluster, subscribers, report, "clients hop relays every 0.3 s", "20 subs, 100/s"
        )
        assert all(s.recovered.count(True) >= 3 for s in subscribers), [
            (s.connects, s.recovered) for s in subscribers
        ]


class TestBrokerConnection:
    """The relay's broker connection closed or cut: it resumes at its own offset, no burst."""

    async def test_connection_closed_five_times(self, cluster: Cluster, report):
        cluster.relays = [await cluster.start_relay()]
        subscribers = cluster.subscribers(USERS[:4], 2)
        await _warm_up(cluster, subscribers)
        vhost = urlsplit(cluster.rabbitmq_url).path.lstrip("/")

        async def close_connections() -> int:
            """Close the relay's broker connection five times (each new one, once seen)."""
            closed: set[str] = set()
            api = "http://127.0.0.1:15672/api/connections"
            async with httpx.AsyncClient(auth=("guest", "guest"), timeout=10) as mgmt:
                for _ in range(200):  # bounded: ~60 s at most
                    if len(closed) >= 5:
                        break
                    await asyncio.sleep(0.3)
                    for conn in (await mgmt.get(api)).json():
                        name = conn["name"]
                        props = conn.get("client_properties", {})
                        is_relay = props.get("connection_name") == "stream-relay"
                        if conn.get("vhost") == vhost and is_relay and name not in closed:
                            await mgmt.delete(f"{api}/{name}", headers={"X-Reason": "test"})
                            closed.add(name)
            return len(closed)

        _, closed = await asyncio.gather(
            cluster.write_for(USERS[:4], seconds=8, rate=50), close_connections()
        )
        assert closed == 5, "the relay's connection was not found to close"
        await _finish(
            cluster,
            subscribers,
            report,
            f"relay broker connection closed x{closed}",
            "8 subs, 50/s",
        )
        assert cluster.check(subscribers).duplicated == 0

    async def test_connection_cut_and_restored_through_a_proxy(self, cluster: Cluster, report):
        port = urlsplit(cluster.rabbitmq_url).port or 5672
        async with tcp_proxy("127.0.0.1", port) as proxy:
            parts = urlsplit(cluster.rabbitmq_url)
            via_proxy = urlunsplit(parts._replace(netloc=f"guest:guest@127.0.0.1:{proxy.port}"))
            cluster.relays = [await cluster.start_relay(rabbitmq_url=via_proxy)]
            subscribers = cluster.subscribers(USERS[:4], 2)
            await _warm_up(cluster, subscribers)

            async def cut() -> None:
                await asyncio.sleep(1)
                await proxy.cut()
                await asyncio.sleep(10 if LONG else 3)
                proxy.restore()

            await asyncio.gather(cluster.write_for(USERS[:4], seconds=5, rate=50), cut())
            await _finish(
                cluster, subscribers, report, "relay-broker link cut 3 s (proxy)", "8 subs, 50/s"
            )
        assert cluster.check(subscribers).duplicated == 0

"""The mission end to end: POST -> row + outbox -> RabbitMQ -> relay -> SSE, and replay."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from tests.support.servers import eventually
from tests.system.conftest import System, data


async def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl without blocking the servers that share this event loop."""
    await asyncio.to_thread(
        subprocess.run, ["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True
    )


class TestLiveDelivery:
    """Every open tab of the recipient receives a notification as it is created."""

    async def test_every_tab_on_every_relay_gets_it_with_stats(self, system: System):
        async with system.stream("42", relay=0) as tab1, system.stream("42", relay=1) as tab2:
            for tab in (tab1, tab2):
                frames = await tab.until("recent")
                assert [f.event for f in frames] == ["connected", "stats", "recent"]
            created = await system.api.create("42", {"title": "Invoice paid"})
            for tab in (tab1, tab2):
                note, stats = await tab.take(2)
                assert note.event == "notification"
                assert data(note) == created
                assert note.id
                assert (stats.event, data(stats)) == (
                    "stats",
                    {"total": 1, "unread": 1, "read": 0, "unseen": 1},
                )

    async def test_initial_stats_and_recent_come_from_the_api(self, system: System):
        first = await system.api.create("42", "unread one")
        second = await system.api.create("42", "read one")
        await system.api.http.patch(
            f"/api/v1/notifications/{second['id']}",
            json={"read": True},
            headers=system.api.auth("42"),
        )
        async with system.stream("42") as tab:
            connected, stats, recent = await tab.take(3)
            assert data(connected)["recovered"] is False
            assert data(stats) == {"total": 2, "unread": 1, "read": 1, "unseen": 1}
            assert [n["id"] for n in data(recent)["notifications"]] == [first["id"]]

    async def test_other_users_see_nothing(self, system: System):
        async with system.stream("bob") as bob:
            await bob.until("recent")
            await system.api.create("alice", "private")
            marker = await system.api.create("bob", "for bob")
            note = await bob.next()
            assert data(note)["id"] == marker["id"]
            assert "private" not in bob.raw


class TestReplay:
    """A tab that was away reconnects with Last-Event-ID and gets exactly what it missed."""

    async def test_reconnect_on_the_other_relay_replays_in_order(self, system: System):
        async with system.stream("42", relay=1) as watcher:
            await watcher.until("recent")
            async with system.stream("42", relay=0) as tab:
                await tab.until("recent")
                await system.api.create("42", "seen")
                last_seen = (await tab.next()).id
            missed = [await system.api.create("42", f"missed {i}") for i in range(5)]
            # The other relay has indexed them all once its own tab got the last one: the
            # reconnect below must replay all five, not some plus the rest live.
            await watcher.until("notification")  # "seen"
            for _ in missed:
                await watcher.until("notification")
        async with system.stream("42", relay=1, last_event_id=last_seen) as tab:
            connected = await tab.next()
            assert data(connected)["recovered"] is True
            replayed = await tab.take(6)
            assert [data(f)["id"] for f in replayed[:5]] == [n["id"] for n in missed]
            assert replayed[5].event == "stats"
            assert data(replayed[5])["total"] == 6


@pytest.mark.broker_restart
class TestBrokerRestart:
    """RabbitMQ restarted while clients are connected and writes go on: nothing is lost."""

    async def test_nothing_is_lost_across_a_broker_restart(self, system: System):
        async with system.stream("42", relay=0) as tab:
            await tab.until("recent")
            before = await system.api.create("42", "before")
            assert data(await tab.next())["id"] == before["id"]
            await tab.next()  # its stats
            await rabbitmqctl("stop_app")
            try:
                during = [await system.api.create("42", f"during {i}") for i in range(3)]
            finally:
                await rabbitmqctl("start_app")
            after = await system.api.create("42", "after")
            expected = [n["id"] for n in (*during, after)]
            received: list[str] = []

            async def all_arrived() -> bool:
                frame = await tab.next(timeout=60)
                if frame.event == "notification":
                    received.append(data(frame)["id"])
                return len(received) >= len(expected)

            await eventually(all_arrived, timeout=90, what="the events written during the outage")
            assert received == expected

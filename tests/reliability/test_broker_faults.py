"""Broker faults: lost confirms, the node stopped, a resource alarm, retention past an id."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import pytest
from tests.api.conftest import api_settings, migrate
from tests.reliability.conftest import LONG, Cluster, user_token
from tests.support.proxy import tcp_proxy
from tests.support.servers import eventually, serving
from tests.support.sse_client import parse_frames

from notifications_api.app import create_app as create_api
from qahub_contracts.topology import BINDING_KEY, EVENT_LOG_QUEUE, EXCHANGE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

USERS = ["u1", "u2", "u3"]


async def rabbitmqctl(*args: str) -> None:
    await asyncio.to_thread(
        subprocess.run, ["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True
    )


async def _run_with_subscribers(cluster: Cluster, fault, report, name: str, seconds: float) -> None:
    cluster.relays = [await cluster.start_relay()]
    subscribers = cluster.subscribers(USERS, 2)
    for s in subscribers:
        s.start()
    await eventually(
        lambda: _connected(subscribers), timeout=30, what="every subscriber to connect"
    )
    await asyncio.gather(cluster.write_for(USERS, seconds=seconds, rate=30), fault())
    recovery = await cluster.settle(subscribers, timeout=90)
    for s in subscribers:
        await s.stop()
    counts = cluster.check(subscribers)
    report(name, "6 subs, 30/s", counts, f"{recovery:.1f}s")
    assert (counts.lost, counts.unexpected, counts.reordered) == (0, 0, 0), counts


async def _connected(subscribers) -> bool:
    return all(s.connects >= 1 for s in subscribers)


class TestLostConfirms:
    """Confirms that never arrive: the rows stay pending, are republished; consumers dedupe."""

    async def test_blackholed_confirms(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path, report
    ):
        port = urlsplit(rabbitmq_url).port or 5672
        async with tcp_proxy("127.0.0.1", port) as proxy:
            parts = urlsplit(rabbitmq_url)
            via_proxy = urlunsplit(parts._replace(netloc=f"guest:guest@127.0.0.1:{proxy.port}"))
            settings = api_settings(database_url, via_proxy, publish_timeout_seconds=1.0)
            await migrate(database_url)
            async with serving(create_api(settings)) as api_url:
                cluster = Cluster(api_url, rabbitmq_url, tmp_path)

                async def fault() -> None:
                    await asyncio.sleep(1)
                    proxy.blackhole("to_client")  # publishes reach the broker, confirms do not
                    await asyncio.sleep(4)
                    proxy.restore()

                try:
                    await _run_with_subscribers(
                        cluster, fault, report, "confirms blackholed 4 s", 6
                    )
                finally:
                    for relay in cluster.relays:
                        relay.kill()


@pytest.mark.broker_restart
class TestNodeFaults:
    """The RabbitMQ node stopped, or alarmed, while the API takes writes: zero lost."""

    async def test_broker_stopped_and_started(self, cluster: Cluster, report):
        outage = 10 if LONG else 4

        async def fault() -> None:
            await asyncio.sleep(1)
            await rabbitmqctl("stop_app")
            try:
                await asyncio.sleep(outage)
            finally:
                await rabbitmqctl("start_app")

        await _run_with_subscribers(
            cluster, fault, report, f"RabbitMQ stopped {outage} s", outage + 3
        )

    async def test_memory_alarm_blocks_publishers_but_not_the_api(self, cluster: Cluster, report):
        alarm = 20 if LONG else 5

        async def fault() -> None:
            await asyncio.sleep(1)
            await rabbitmqctl("set_vm_memory_high_watermark", "0.000001")
            try:
                async with httpx.AsyncClient(base_url=cluster.api_url, timeout=5) as http:
                    await asyncio.sleep(alarm)
                    assert (await http.get("/healthz")).status_code == 200
            finally:
                await rabbitmqctl("set_vm_memory_high_watermark", "0.4")

        await _run_with_subscribers(cluster, fault, report, f"memory alarm {alarm} s", alarm + 3)


class TestRetention:
    """A Last-Event-ID older than the log's retention: recovered false, never a silent gap."""

    async def test_an_id_trimmed_by_retention_is_not_recovered(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path
    ):
        # A log that keeps ~2 s in tiny segments, declared before any service starts
        # (the services then use it as it is: they declare passively on a mismatch).
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                EVENT_LOG_QUEUE,
                durable=True,
                arguments={
                    "x-queue-type": "stream",
                    "x-max-age": "2s",
                    "x-stream-max-segment-size-bytes": 2000,
                },
            )
            await queue.bind(exchange, BINDING_KEY)
        await migrate(database_url)
        async with serving(create_api(api_settings(database_url, rabbitmq_url))) as api_url:
            cluster = Cluster(api_url, rabbitmq_url, tmp_path)
            try:
                await self._trimmed_id_is_not_recovered(cluster)
            finally:
                for relay in cluster.relays:
                    relay.kill()

    async def _trimmed_id_is_not_recovered(self, cluster: Cluster) -> None:
        # The `recent` frame comes from the relay's snapshot fetch to the API (in this
        # test process): under a loaded CI machine the default 3 s could run out.
        cluster.relays = [await cluster.start_relay(API_TIMEOUT_SECONDS="10")]
        (tab,) = cluster.subscribers(["u1"], 1)
        tab.start()
        await eventually(lambda: _connected([tab]), timeout=20, what="the tab to connect")
        written = 0
        async with httpx.AsyncClient(base_url=cluster.api_url, timeout=10) as http:
            assert await cluster.write(http, "u1", "old")
            written += 1
            await eventually(lambda: _received(tab), timeout=20, what="the first event")
            await tab.stop()
            old_id = tab.last_id
            old_offset = int(old_id.split("-")[0])
            # Another user's events close the old one's segment; once it is older than
            # the max age, the next segment roll deletes it (RabbitMQ decides when).
            for i in range(10):
                assert await cluster.write(http, "u2", f"filler-{i}-" + "x" * 200)
            await asyncio.sleep(2.5)

            async def trimmed() -> bool:
                nonlocal written
                for i in range(5):  # roll segments so retention runs
                    assert await cluster.write(http, "u1", f"new-{written}-{i}-" + "x" * 200)
                written += 5
                first = await _first_offset(cluster.rabbitmq_url)
                return first is not None and first > old_offset

            await eventually(trimmed, timeout=30, what="retention to trim the old event")
        await cluster.restart(cluster.relays[0])  # its index is rebuilt from the trimmed log
        frames = await _connect(cluster.relay_urls[0], "u1", old_id)
        assert [f.event for f in frames[:3]] == ["connected", "stats", "recent"]
        assert json.loads(frames[0].data)["recovered"] is False
        assert json.loads(frames[1].data)["total"] == written


async def _first_offset(rabbitmq_url: str) -> int | None:
    """The offset of the event log's first retained message (``None``: nothing within 5 s)."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=False)
        first: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            if not first.done():
                first.set_result(int(message.headers["x-stream-offset"]))  # type: ignore[arg-type]

        await queue.consume(on_message, arguments={"x-stream-offset": "first"})
        try:
            return await asyncio.wait_for(first, 5)
        except TimeoutError:
            return None


async def _received(tab) -> bool:
    return bool(tab.received)


async def _connect(relay: str, user: str, last_id: str | None) -> list:
    headers = {"Authorization": f"Bearer {user_token(user)}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    frames: list = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=15)) as http,
        http.stream("GET", f"{relay}/api/v1/notifications/stream", headers=headers) as response,
    ):
        buffer = ""
        async for text in response.aiter_text():
            parsed, buffer = parse_frames(buffer + text)
            frames += parsed
            if any(f.event == "recent" for f in frames):
                return frames
    return frames

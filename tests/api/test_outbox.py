"""DESIGN §6: every committed change reaches the event log in order, despite outages, crashes."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
import pytest
from tests.api.conftest import SECRET, Api, api_settings, migrate, running_api
from tests.support.proxy import tcp_proxy
from tests.support.servers import child, eventually, free_port, serving, wait_http_ok
from tests.support.stream import read_log

from notifications_api.app import create_app
from qahub_contracts.events import NotificationCreated, NotificationDeleted, NotificationUpdated
from qahub_contracts.topology import BINDING_KEY, EVENT_LOG_QUEUE, EXCHANGE, EventType

URL = "/api/v1/notifications"


class TestEvents:
    """Each change publishes its domain event, routing key = event type."""

    async def test_lifecycle_events_in_order_with_stats(self, api: Api, rabbitmq_url: str):
        me = api.auth("42")
        a = await api.create("42", {"n": 1})
        b = await api.create("42", "two")
        await api.http.patch(f"{URL}/{a['id']}", json={"read": True}, headers=me)
        await api.http.delete(f"{URL}/{a['id']}", headers=me)
        await api.http.post(f"{URL}/read", headers=me)
        await api.http.post(f"{URL}/delete", json={"ids": [b["id"]]}, headers=me)

        log = await read_log(rabbitmq_url, 6)
        assert [e.routing_key for e in log] == [
            "notification.created",
            "notification.created",
            "notification.updated",
            "notification.deleted",
            "notification.updated",
            "notification.deleted",
        ]
        assert [e.event.event_type.value for e in log] == [e.routing_key for e in log]
        assert all(e.persistent for e in log)
        assert all(e.message_id == str(e.event.event_id) for e in log)
        assert len({e.event.event_id for e in log}) == 6
        assert all(e.event.user_id == "42" and e.event.schema_version == 1 for e in log)
        stats = [(e.event.stats.total, e.event.stats.unread) for e in log]
        assert stats == [(1, 1), (2, 2), (2, 1), (1, 1), (1, 0), (0, 0)]
        created = log[0].event
        assert isinstance(created, NotificationCreated)
        assert created.notification.model_dump(by_alias=True, mode="json") == a
        updated = log[2].event
        assert isinstance(updated, NotificationUpdated)
        assert updated.notification.read_at is not None
        deleted = log[3].event
        assert isinstance(deleted, NotificationDeleted)
        assert str(deleted.notification_id) == a["id"]

    async def test_bulk_delete_emits_one_event_per_id(self, api: Api, rabbitmq_url: str):
        ids = [(await api.create("42", f"n{i}"))["id"] for i in range(3)]
        await api.http.post(f"{URL}/delete", json={"ids": ids}, headers=api.auth("42"))
        log = await read_log(rabbitmq_url, 6)
        deleted = [e.event for e in log if e.routing_key == EventType.DELETED]
        assert sorted(str(e.notification_id) for e in deleted) == sorted(ids)  # type: ignore[union-attr]
        assert deleted[-1].stats.total == 0

    async def test_each_users_events_follow_commit_order_under_concurrency(
        self, api: Api, rabbitmq_url: str
    ):
        await asyncio.gather(*(api.create(user, f"n{i}") for i in range(40) for user in ("a", "b")))
        log = await read_log(rabbitmq_url, 80)
        for user in ("a", "b"):
            totals = [e.event.stats.total for e in log if e.event.user_id == user]
            assert totals == list(range(1, 41)), user


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class TestBrokerOutage:
    """Writes succeed while RabbitMQ is unreachable; their events go out once it is back."""

    async def test_writes_during_an_outage_are_delivered_after_it(
        self, database_url: str, rabbitmq_url: str
    ):
        port = urlsplit(rabbitmq_url).port or 5672
        async with tcp_proxy("127.0.0.1", port) as proxy:
            settings = api_settings(database_url, _with_port(rabbitmq_url, proxy.port))
            await migrate(database_url)
            async with running_api(settings) as api:
                await api.create("42", "before")
                await eventually(
                    lambda: _pending(api.http, 0),
                    timeout=10,
                    what="the first event to be confirmed",
                )
                await proxy.cut()
                started = time.monotonic()
                for i in range(5):
                    await api.create("42", f"during-{i}")
                assert time.monotonic() - started < 5, "a write waited on the broker"
                await eventually(
                    lambda: _status(api.http, "/readyz", 503), timeout=10, what="readyz 503"
                )
                assert (await api.http.get("/readyz")).json()["broker"] == "down"
                proxy.restore()
                await eventually(
                    lambda: _pending(api.http, 0), timeout=20, what="the outbox to drain"
                )
        log = await read_log(rabbitmq_url, 6)
        data = [e.event.notification.data for e in log]  # type: ignore[union-attr]
        assert data == ["before", *(f"during-{i}" for i in range(5))]


async def _status(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status


async def _pending(http: httpx.AsyncClient, expected: int) -> bool:
    body = (await http.get("/readyz")).json()
    return (
        body["outbox"] is not None
        and body["outbox"]["pending"] == expected
        and body["broker"] == "ok"
    )


class TestCrash:
    """An API killed right after commit loses no event: the outbox survives it."""

    async def test_events_committed_before_a_sigkill_are_published_after_restart(
        self, database_url: str, rabbitmq_url: str, tmp_path: Path
    ):
        await migrate(database_url)
        port = free_port()
        env = {
            "DATABASE_URL": database_url,
            "JWT_SECRET": SECRET,
            "OUTBOX_POLL_SECONDS": "0.2",
            # An unreachable broker: nothing can be published before the kill.
            "RABBITMQ_URL": _with_port(rabbitmq_url, free_port()),
        }
        args = ["api", "--port", str(port), "--no-migrate"]
        base = f"http://127.0.0.1:{port}"
        with child(args, env, tmp_path / "api-1.log") as first:
            await wait_http_ok(f"{base}/healthz")
            async with httpx.AsyncClient(base_url=base) as http:
                api = Api(http, api_settings(database_url, rabbitmq_url))
                created = [await api.create("42", f"n{i}") for i in range(10)]
            first.kill()
        with child(args, {**env, "RABBITMQ_URL": rabbitmq_url}, tmp_path / "api-2.log"):
            await wait_http_ok(f"{base}/healthz")
            log = await read_log(rabbitmq_url, 10, timeout=20)
        assert [e.event.notification.id for e in log] == [  # type: ignore[union-attr]
            uuid.UUID(n["id"]) for n in created
        ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
class TestOneDispatcher:
    """On PostgreSQL one dispatcher per database publishes; the others stand by."""

    async def test_only_one_instance_dispatches(self, database_url: str, rabbitmq_url: str):
        settings = api_settings(database_url, rabbitmq_url)
        await migrate(database_url)
        async with (
            serving(create_app(settings)) as base_a,
            serving(create_app(settings)) as base_b,
            httpx.AsyncClient(base_url=base_a) as a,
            httpx.AsyncClient(base_url=base_b) as b,
        ):
            for i in range(10):
                await Api(a if i % 2 else b, settings).create("42", f"n{i}")

            async def leaders() -> list[bool]:
                texts = [(await c.get("/metrics")).text for c in (a, b)]
                return ["outbox_dispatcher_active 1.0" in t for t in texts]

            await eventually(lambda: _one_leader(leaders), timeout=10, what="a single leader")
            log = await read_log(rabbitmq_url, 10)
        assert [e.event.stats.total for e in log] == list(range(1, 11))


async def _one_leader(leaders) -> bool:
    return sorted(await leaders()) == [False, True]


class TestUnroutable:
    """A returned (unroutable) publish is a failure: the row stays pending and is republished."""

    async def test_a_removed_binding_is_healed_and_nothing_is_lost(
        self, api: Api, rabbitmq_url: str
    ):
        await api.create("42", "first")
        await read_log(rabbitmq_url, 1)
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(EVENT_LOG_QUEUE, ensure=True)
            await queue.unbind(EXCHANGE, BINDING_KEY)
        await api.create("42", "while unbound")

        async def counted_failure() -> bool:
            text = (await api.http.get("/metrics")).text
            return 'outbox_publish_failures_total{reason="unroutable"}' in text

        await eventually(counted_failure, timeout=10, what="the return to be counted as a failure")
        log = await read_log(rabbitmq_url, 2, timeout=20)
        assert [e.event.notification.data for e in log] == ["first", "while unbound"]  # type: ignore[union-attr]

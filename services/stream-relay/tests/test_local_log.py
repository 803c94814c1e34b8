"""The relay's local copy of its index (RELAY_STATE_DIR): fast restarts, never a gap."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import aio_pika

from qahub_contracts.topology import EVENT_LOG_QUEUE
from stream_relay.indexed_event import IndexedEvent
from stream_relay.local_log import LocalLog


def entry(offset: int, user: str = "alice", happened: float | None = None) -> IndexedEvent:
    key = f"00000000-0000-4000-8000-{offset:012d}"
    happened = time.time() if happened is None else happened
    return IndexedEvent(offset, user, key, happened, b'{"body": %d}' % offset)


async def load(directory: Path, max_age: float = 3600):
    local = LocalLog.open(directory, max_age_seconds=max_age)
    assert local is not None
    loaded: list[IndexedEvent] = []
    resume = await local.load(loaded.append)
    return local, loaded, resume


class TestLocalLog:
    async def test_appended_events_load_back_in_order_with_where_to_resume(self, tmp_path):
        local, _, resume = await load(tmp_path)
        assert resume is None
        for offset in range(5):
            local.append(entry(offset), f"fp-{offset}")
        local.close()
        local, loaded, resume = await load(tmp_path)
        assert [(e.offset, e.user_id, e.body) for e in loaded] == [
            (o, "alice", b'{"body": %d}' % o) for o in range(5)
        ]
        assert (resume.offset, resume.fingerprint, resume.events) == (4, "fp-4", 5)
        local.close()

    async def test_a_flush_torn_by_a_crash_is_dropped_and_what_came_before_is_kept(self, tmp_path):
        local, _, _ = await load(tmp_path)
        for offset in range(3):
            local.append(entry(offset), f"fp-{offset}")
            local.flush()  # one transaction each
        crashed = tmp_path / "crashed"
        crashed.mkdir(mode=0o700)
        for name in ("index.sqlite3", "index.sqlite3-wal"):  # the files as a crash leaves them
            data = (tmp_path / name).read_bytes()
            (crashed / name).write_bytes(data[:-7] if name.endswith("-wal") else data)
        local.close()
        local, loaded, resume = await load(crashed)
        assert [e.offset for e in loaded] == [0, 1]
        assert resume.offset == 1
        local.append(entry(2), "fp-2")  # appends after what was kept
        local.close()
        local, loaded, _ = await load(crashed)
        assert [e.offset for e in loaded] == [0, 1, 2]
        local.close()

    async def test_an_unreadable_copy_is_deleted_and_the_log_read_again(self, tmp_path, caplog):
        """The broker sends every event again: the index gets no gap."""
        local, _, _ = await load(tmp_path)
        local.append(entry(0), "fp-0")
        local.close()
        (tmp_path / "index.sqlite3").write_bytes(b"not a database" * 1000)
        local, loaded, resume = await load(tmp_path)
        assert (loaded, resume) == ([], None)
        assert "unreadable" in caplog.text
        local.append(entry(5), "fp-5")  # a fresh copy
        local.close()
        local, loaded, resume = await load(tmp_path)
        assert [e.offset for e in loaded] == [5]
        local.close()

    async def test_expired_events_are_deleted_and_not_loaded(self, tmp_path):
        local, _, _ = await load(tmp_path)
        local.append(entry(0, happened=time.time() - 7200), "old")
        local.close()
        local, loaded, resume = await load(tmp_path, max_age=3600)
        assert loaded == []
        assert resume.offset == 0  # still where the broker subscription resumes
        local.append(entry(1), "new")
        local.close()
        local, loaded, resume = await load(tmp_path, max_age=3600)
        assert [e.offset for e in loaded] == [1]
        assert resume.offset == 1
        local.close()

    async def test_reset_forgets_everything(self, tmp_path):
        local, _, _ = await load(tmp_path)
        local.append(entry(0), "fp-0")
        local.flush()
        local.reset()
        local.append(entry(9), "fp-9")
        local.close()
        local, loaded, resume = await load(tmp_path)
        assert [e.offset for e in loaded] == [9]
        assert resume.offset == 9
        local.close()

    async def test_only_the_relays_user_can_read_the_copy(self, tmp_path):
        directory = tmp_path / "state"
        local, _, _ = await load(directory)
        local.append(entry(0), "fp")
        local.close()
        assert directory.stat().st_mode & 0o777 == 0o700
        assert {p.stat().st_mode & 0o777 for p in directory.iterdir()} == {0o600}

    async def test_one_relay_per_directory(self, tmp_path, caplog):
        first = LocalLog.open(tmp_path, max_age_seconds=60)
        assert LocalLog.open(tmp_path, max_age_seconds=60) is None
        assert "in use by another relay" in caplog.text
        assert first is not None
        first.close()
        second = LocalLog.open(tmp_path, max_age_seconds=60)
        assert second is not None
        second.close()


class TestRestart:
    """A relay restarted on its state directory: the index is back without re-reading."""

    async def test_restart_rebuilds_the_index_locally_and_resumes_the_log(
        self, start_relay, open_stream, publisher, events, token, tmp_path, caplog
    ):
        caplog.set_level(logging.INFO, logger="stream_relay")
        relay = await start_relay(relay_state_dir=tmp_path)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.until("connected")
        before = [events.created("alice", f"before {i}") for i in range(20)]
        for event in before:
            await publisher.publish(event)
        frames = [f for f in await stream.take(40) if f.event == "notification"]
        first_id = frames[0].id
        await stream.close()
        await relay.stop()
        while_down = [events.created("alice", f"while down {i}") for i in range(5)]
        for event in while_down:
            await publisher.publish(event)

        relay = await start_relay(relay_state_dir=tmp_path)
        assert "index rebuilt from the local log: 20 events" in caplog.text
        stream = await open_stream(
            relay.base_url, token("alice"), headers={"Last-Event-ID": first_id}
        )
        assert json.loads((await stream.next()).data)["recovered"] is True
        missed = [*before[1:], *while_down]
        got = [f for f in await stream.take(len(missed) + 1) if f.event == "notification"]
        assert [json.loads(f.data)["id"] for f in got] == [str(e.notification.id) for e in missed]
        live = events.created("alice", "live")
        await publisher.publish(live)
        assert json.loads((await stream.until("notification"))[-1].data)["id"] == str(
            live.notification.id
        )

    async def test_a_log_recreated_while_down_is_not_mistaken_for_the_stored_one(
        self, start_relay, open_stream, publisher, events, token, tmp_path, rabbitmq_url
    ):
        relay = await start_relay(relay_state_dir=tmp_path)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.until("connected")
        for i in range(10):
            await publisher.publish(events.created("alice", f"old {i}"))
        old_id = next(f for f in await stream.take(20) if f.event == "notification").id
        await stream.close()
        await relay.stop()
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(EVENT_LOG_QUEUE)
        publisher._exchange = None  # the stream is declared again by the relay

        relay = await start_relay(relay_state_dir=tmp_path)
        fresh = [events.created("alice", f"new {i}") for i in range(3)]
        for event in fresh:
            await publisher.publish(event)
        stream = await open_stream(relay.base_url, token("alice"))
        await stream.until("connected")
        # The new log's events reach the index (the stored one was dropped) ...
        marker = events.created("alice", "marker")
        await publisher.publish(marker)
        await stream.until("notification")
        await stream.close()
        # ... and an id from the old log is not recovered.
        stream = await open_stream(
            relay.base_url, token("alice"), headers={"Last-Event-ID": old_id}
        )
        assert json.loads((await stream.next()).data)["recovered"] is False

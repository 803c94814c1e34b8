"""The relay's one heartbeat timer (stream_relay.sse_response.Heartbeats)."""

from __future__ import annotations

import asyncio
import time

from stream_relay.sse_response import Heartbeats


class Stream:
    def __init__(self, *, broken: bool = False) -> None:
        self.beats: list[float] = []
        self.broken = broken

    def beat(self, now: float) -> None:
        if self.broken:
            raise RuntimeError("bug")
        self.beats.append(now)


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


class TestHeartbeats:
    async def test_every_registered_stream_is_asked_each_tick_until_discarded(self):
        timer = Heartbeats(0.2)
        assert timer.tick == 0.05
        first, second = Stream(), Stream()
        timer.add(first)
        timer.add(second)
        timer.start()
        try:
            await until(lambda: len(first.beats) >= 2 and len(second.beats) >= 2)
            timer.discard(second)
            asked = len(second.beats)
            await until(lambda: len(first.beats) >= asked + 3)
            assert len(second.beats) == asked
        finally:
            await timer.stop()

    async def test_a_failing_stream_is_dropped_and_the_others_still_beat(self, caplog):
        timer = Heartbeats(0.2)
        healthy, broken = Stream(), Stream(broken=True)
        timer.add(broken)
        timer.add(healthy)
        timer.start()
        try:
            await until(lambda: len(healthy.beats) >= 3)
            assert len(timer) == 1
            assert "heartbeat failed" in caplog.text
        finally:
            await timer.stop()

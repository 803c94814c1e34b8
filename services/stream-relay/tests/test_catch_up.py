"""The consumer's progress through the log (stream_relay.catch_up)."""

from __future__ import annotations

import asyncio

from stream_relay.catch_up import CatchUp


class TestCaughtUp:
    def test_caught_up_at_the_head_not_before(self):
        progress = CatchUp()
        progress.expect_head(2)
        for offset in range(2):
            progress.processed(offset)
            progress.idle(1.0)  # a pause short of the head is not the end ...
        assert not progress.caught_up.is_set()
        progress.processed(2)
        assert progress.caught_up.is_set()

    def test_a_long_pause_short_of_the_head_gives_up_waiting(self):
        progress = CatchUp(idle_give_up=3.0)
        progress.expect_head(100)
        progress.idle(3.0)
        assert progress.caught_up.is_set()

    def test_an_empty_log_is_caught_up_after_a_short_pause(self):
        progress = CatchUp(idle_empty=0.3)
        progress.expect_head(None)
        progress.idle(0.2)
        assert not progress.caught_up.is_set()
        progress.idle(0.3)
        assert progress.caught_up.is_set()

    def test_a_gap_starts_over(self):
        progress = CatchUp()
        progress.event_age(0.1)
        assert progress.caught_up.is_set()
        progress.reset()
        assert not progress.caught_up.is_set()


class TestReach:
    async def test_reach_returns_once_the_offset_is_processed(self):
        progress = CatchUp()
        progress.following(subscribed=True)
        waiting = asyncio.create_task(progress.reach(5, timeout=5))
        await asyncio.sleep(0)
        progress.processed(4)
        await asyncio.sleep(0)
        assert not waiting.done()
        progress.processed(6)
        assert await asyncio.wait_for(waiting, 1) is True

    async def test_reach_gives_up_after_its_timeout(self):
        progress = CatchUp()
        progress.following(subscribed=True)
        assert await progress.reach(5, timeout=0.05) is False

    async def test_reach_returns_when_the_consumer_is_not_subscribed(self):
        progress = CatchUp()
        assert await progress.reach(5, timeout=5) is False  # at once
        progress.following(subscribed=True)
        waiting = asyncio.create_task(progress.reach(5, timeout=5))
        await asyncio.sleep(0)
        progress.following(subscribed=False)
        assert await asyncio.wait_for(waiting, 1) is False

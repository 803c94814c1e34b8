"""Where a delivery stands in the log the relay holds (stream_relay.continuity)."""

from __future__ import annotations

from stream_relay.continuity import Continuity, Step


class TestContinuity:
    def test_a_fresh_start_reads_from_first_and_every_later_offset_is_new(self):
        position = Continuity()
        assert position.resume_at() == "first"
        assert [position.check(o, f"m{o}") for o in (0, 1, 3)] == [Step.NEW] * 3
        assert position.last_offset == 3

    def test_offsets_at_or_below_the_last_one_are_old(self):
        position = Continuity()
        position.check(5, "m5")
        assert position.check(5, "again") is Step.OLD
        assert position.check(2, "m2") is Step.OLD
        assert position.last == (5, "m5")

    def test_a_resubscribe_must_start_with_the_last_message(self):
        position = Continuity()
        position.check(5, "m5")
        assert position.resume_at() == 5
        assert position.check(5, "m5") is Step.RESUMED
        assert position.check(6, "m6") is Step.NEW

    def test_anything_else_first_after_a_resubscribe_is_a_gap(self):
        for offset, fingerprint in [(9, "m9"), (5, "another message")]:
            position = Continuity()
            position.check(5, "m5")
            position.resume_at()
            assert position.check(offset, fingerprint) is Step.GAP
            assert position.last == (5, "m5")

    def test_a_restored_position_is_checked_like_any_other(self):
        position = Continuity()
        position.restore(41, "m41")
        assert position.resume_at() == 41
        assert position.check(41, "m41") is Step.RESUMED

    def test_a_log_ending_before_the_last_message_was_recreated(self):
        position = Continuity()
        assert not position.ends_before(None)
        position.check(5, "m5")
        assert position.ends_before(None)
        assert position.ends_before(4)
        assert not position.ends_before(5)
        position.reset()
        assert position.resume_at() == "first"

"""WHATWG frame encoding and Last-Event-ID parsing (stream_relay.sse)."""

from __future__ import annotations

import pytest

from qahub_contracts.api import Stats
from stream_relay import sse


class TestEncodeFrame:
    """Frames parse back to exactly what was encoded."""

    def test_multi_line_data_is_split_over_data_lines(self, parse_sse):
        frame = sse.encode_frame("a\r\nb\nc\rd", event="x", id="1-abc")
        assert frame == b"id: 1-abc\nevent: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        (parsed,), rest = parse_sse(frame.decode())
        assert (parsed.event, parsed.id, parsed.data, rest) == ("x", "1-abc", "a\nb\nc\nd", "")

    def test_injected_field_text_stays_inside_data(self, parse_sse):
        evil = "x\n\nevent: hacked\nid: 666\ndata: boom"
        frames, _ = parse_sse(sse.encode_frame(evil, event="notification").decode())
        assert len(frames) == 1
        assert frames[0].event == "notification"
        assert frames[0].id is None
        assert frames[0].data == "x\n\nevent: hacked\nid: 666\ndata: boom"

    @pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
    def test_ids_and_event_names_refuse_cr_lf_nul(self, bad):
        with pytest.raises(ValueError):
            sse.encode_frame("d", id=bad)
        with pytest.raises(ValueError):
            sse.encode_frame("d", event=bad)

    def test_retry_comes_first(self):
        assert sse.encode_frame("{}", event="connected", retry_ms=3000).startswith(b"retry: 3000\n")

    def test_heartbeat_is_a_comment(self, parse_sse):
        assert sse.HEARTBEAT == b": heartbeat\n\n"
        (frame,), _ = parse_sse(sse.HEARTBEAT.decode())
        assert frame.comments == ["heartbeat"]
        assert frame.data == ""

    def test_stats_frame_is_camel_case_json_without_id(self):
        frame = sse.stats_frame(Stats(total=3, unread=1, read=2))
        assert frame == b'event: stats\ndata: {"total":3,"unread":1,"read":2,"unseen":1}\n\n'


class TestLastEventId:
    """The header wins; blanks mean none; long values are cut (never match)."""

    def test_header_wins_over_query(self):
        assert sse.last_event_id("5-aaaaaaaaaaaa", "6-bbbbbbbbbbbb") == "5-aaaaaaaaaaaa"

    def test_query_is_used_without_header(self):
        assert sse.last_event_id(None, "6-bbbbbbbbbbbb") == "6-bbbbbbbbbbbb"
        assert sse.last_event_id("  ", "6-bbbbbbbbbbbb") == "6-bbbbbbbbbbbb"

    def test_absent_or_blank_is_none(self):
        assert sse.last_event_id(None, None) is None
        assert sse.last_event_id("", "") is None

    def test_overlong_value_is_cut(self):
        value = sse.last_event_id("1" * 10_000, None)
        assert value is not None
        assert len(value) == sse.MAX_LAST_EVENT_ID_CHARS + 1

"""The package's public surface is small, sorted and importable."""

from __future__ import annotations

import stream_relay
from stream_relay.__main__ import main


def test_all_is_sorted_and_importable():
    assert stream_relay.__all__ == sorted(stream_relay.__all__)
    for name in stream_relay.__all__:
        assert getattr(stream_relay, name) is not None


def test_main_is_callable_with_argv():
    assert callable(main)

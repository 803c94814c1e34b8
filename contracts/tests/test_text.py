"""What text the contracts let through to a database (qahub_contracts.text)."""

from __future__ import annotations

import pytest

from qahub_contracts.text import MAX_DATA_DEPTH, check_document, check_text


class TestCheckText:
    """NUL and lone surrogates are refused; any other Unicode passes unchanged."""

    @pytest.mark.parametrize("text", ["", "plain", "\\u0000", "line\r\n", "\u2028", "\U0001f600"])
    def test_storable_text_passes_unchanged(self, text: str):
        assert check_text(text) is text

    @pytest.mark.parametrize("text", ["\x00", "a\x00b", "\ud800", "x\udfff"])
    def test_unstorable_text_is_refused(self, text: str):
        with pytest.raises(ValueError, match=r"NUL|surrogate"):
            check_text(text)


class TestCheckDocument:
    """Every string and key is checked, at any depth; nesting is bounded."""

    @pytest.mark.parametrize(
        "document", [{"a": [{"b": "\x00"}]}, {"\x00": 1}, ["ok", "\ud800"], "\x00"]
    )
    def test_an_unstorable_string_anywhere_is_refused(self, document: object):
        with pytest.raises(ValueError, match=r"NUL|surrogate"):
            check_document(document)

    def test_nesting_is_bounded(self):
        document: object = 1
        for _ in range(MAX_DATA_DEPTH):
            document = [document]
        assert check_document(document) is document
        with pytest.raises(ValueError, match="deeper"):
            check_document({"a": document})

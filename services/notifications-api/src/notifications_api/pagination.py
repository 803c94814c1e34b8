"""Opaque listing cursors: a position in a user's newest-first listing."""

from __future__ import annotations

import base64
import binascii

from notifications_api.errors import InvalidCursor

__all__ = ["decode_cursor", "encode_cursor"]

_PREFIX = "v1:"


def encode_cursor(seq: int) -> str:
    """The cursor that continues a listing after the row at ``seq``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor names.

    Raises:
        InvalidCursor: the cursor was not made by :func:`encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is not valid; pass back nextCursor unchanged") from None
    position = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not position.isdigit() or len(position) > 19:
        raise InvalidCursor("cursor is not valid; pass back nextCursor unchanged")
    return int(position)

"""Text the services store: what every door refuses before it reaches a database.

PostgreSQL refuses the NUL character in ``text`` and ``jsonb``, and no database
driver can encode a lone surrogate (``"\\ud800"`` is valid JSON, but not
UTF-8). Left to the database, either would surface as a driver error, which
the API reads as "database unavailable" (503) or a bug (500), and SQLite would
store what PostgreSQL refuses. Refusing both in the input models makes every
door (REST, commands) answer ``validation_error`` on both databases alike.

``data`` is also bounded in depth: a notification is a small document, and a
deep one is refused here (422) rather than by a JSON encoder further down the
path (the event envelope adds levels of its own).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MAX_DATA_DEPTH", "check_document", "check_text"]

MAX_DATA_DEPTH: Final = 32
"""Deepest nesting of objects and arrays a notification's ``data`` may have."""


def check_text(value: str) -> str:
    """``value`` unchanged if a database can store it.

    Raises:
        ValueError: it holds a NUL character or a lone surrogate.
    """
    if "\x00" in value:
        msg = "text must not contain the NUL character (\\u0000)"
        raise ValueError(msg)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            msg = "text must be valid Unicode (no lone surrogates)"
            raise ValueError(msg) from None
    return value


def check_document(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """``value`` unchanged if every string and key in it is storable and it is shallow enough.

    Raises:
        ValueError: a string or key fails :func:`check_text`, or objects and
            arrays nest deeper than :data:`MAX_DATA_DEPTH`.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            check_text(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= MAX_DATA_DEPTH:
            msg = f"data nests deeper than {MAX_DATA_DEPTH} levels"
            raise ValueError(msg)
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
    return value

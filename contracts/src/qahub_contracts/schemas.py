"""JSON Schemas of the wire payloads, generated from the models (DESIGN §11).

``docs/schemas/`` holds one file per payload; a test keeps them equal to what
:func:`render_all` produces, and the TypeScript client's types are generated
from them. Regenerate after changing a model::

    uv run python -m qahub_contracts.schemas docs/schemas

What a producer *writes* (events, SSE data, replies) is described in
serialization mode, where every field it always writes is required; what a
sender must *send* (the command) in validation mode, where defaults are optional.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from qahub_contracts.api import (
    DeletedNotification,
    Notification,
    Preferences,
    RecentNotifications,
    Stats,
    StreamConnected,
    Suppressed,
)
from qahub_contracts.commands import CommandReply, CreateNotificationCommand
from qahub_contracts.events import (
    DomainEvent,
    NotificationCreated,
    NotificationDeleted,
    NotificationUpdated,
)

__all__ = ["SCHEMAS", "main", "render_all"]

_Mode = Literal["validation", "serialization"]

SCHEMAS: Final[dict[str, tuple[Any, _Mode]]] = {
    "event.json": (DomainEvent, "serialization"),
    "event.notification.created.json": (NotificationCreated, "serialization"),
    "event.notification.updated.json": (NotificationUpdated, "serialization"),
    "event.notification.deleted.json": (NotificationDeleted, "serialization"),
    "sse.connected.json": (StreamConnected, "serialization"),
    "sse.notification.json": (Notification, "serialization"),
    "sse.notification.deleted.json": (DeletedNotification, "serialization"),
    "sse.stats.json": (Stats, "serialization"),
    "sse.recent.json": (RecentNotifications, "serialization"),
    "command.notification.create.json": (CreateNotificationCommand, "validation"),
    "command.reply.json": (CommandReply, "serialization"),
    "rest.preferences.json": (Preferences, "serialization"),
    "rest.suppressed.json": (Suppressed, "serialization"),
}
"""File name -> (model or annotated type, mode). ``sse.notification.json`` is also the
data of ``notification.updated`` frames."""


class _WrittenFieldsRequired(GenerateJsonSchema):
    """Serialization schemas list every field a producer always writes as required."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,  # noqa: FBT001 - pydantic's signature
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)


def _drop_field_titles(node: object) -> None:
    """Pydantic titles every field ("Createdat"); only the models' titles name types."""
    if isinstance(node, dict):
        for value in node.get("properties", {}).values():
            value.pop("title", None)
        for value in node.values():
            _drop_field_titles(value)
    elif isinstance(node, list):
        for value in node:
            _drop_field_titles(value)


def render(name: str) -> str:
    """The JSON text of schema ``name`` (stable: sorted keys, two-space indent, newline)."""
    type_, mode = SCHEMAS[name]
    schema = TypeAdapter(type_).json_schema(
        by_alias=True, mode=mode, schema_generator=_WrittenFieldsRequired
    )
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    _drop_field_titles(document)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """Every schema file's name and text."""
    return {name: render(name) for name in SCHEMAS}


def main(argv: list[str] | None = None) -> int:
    """Write every schema into the folder given (default ``docs/schemas``); drop stale files."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/schemas")
    folder.mkdir(parents=True, exist_ok=True)
    rendered = render_all()
    for stale in folder.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        (folder / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""docs/schemas: the JSON Schemas of every wire payload, current with the models (DESIGN §11)."""

from __future__ import annotations

import json
from pathlib import Path

from qahub_contracts import schemas

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "schemas"
REGENERATE = "regenerate with: uv run python -m qahub_contracts.schemas docs/schemas"


class TestSchemaFiles:
    """The committed schemas are exactly what the models generate, no more, no less."""

    def test_every_schema_file_equals_a_fresh_render(self):
        rendered = schemas.render_all()
        on_disk = {p.name: p.read_text(encoding="utf-8") for p in FOLDER.glob("*.json")}
        assert sorted(on_disk) == sorted(rendered), REGENERATE
        for name, text in rendered.items():
            assert on_disk[name] == text, f"{name} is stale; {REGENERATE}"

    def test_main_writes_the_folder_and_drops_stale_files(self, tmp_path: Path):
        (tmp_path / "gone.json").write_text("{}")
        assert schemas.main([str(tmp_path)]) == 0
        assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(schemas.SCHEMAS)


class TestSchemaContent:
    """What readers rely on: the envelope's fields required, events told apart by eventType."""

    def test_event_envelope_fields_are_required(self):
        for name in [n for n in schemas.SCHEMAS if n.startswith("event.notification.")]:
            document = json.loads(schemas.render(name))
            required = set(document["required"])
            assert {"eventId", "eventType", "schemaVersion", "occurredAt"} <= required, name

    def test_the_event_union_is_discriminated_by_event_type(self):
        document = json.loads(schemas.render("event.json"))
        assert document["discriminator"]["propertyName"] == "eventType"
        assert set(document["discriminator"]["mapping"]) == {
            "notification.created",
            "notification.updated",
            "notification.deleted",
        }

    def test_a_command_may_leave_out_what_has_defaults_but_not_its_id(self):
        document = json.loads(schemas.render("command.notification.create.json"))
        assert {"commandId", "schemaVersion", "type", "notifiableId", "data"} <= set(
            document["required"]
        )

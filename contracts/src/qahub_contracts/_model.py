"""The base model of every wire payload: camelCase JSON, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Frozen pydantic model that reads and writes camelCase JSON.

    Python code uses snake_case attributes; JSON uses the camelCase aliases
    (``notifiable_id`` <-> ``notifiableId``). Unknown fields are refused so a
    typo in a request is a clear 422, not a silently ignored field.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        serialize_by_alias=True,
    )

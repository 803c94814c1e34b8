"""The base models of every wire payload: camelCase JSON, immutable.

:class:`WireModel` refuses unknown fields (REST request bodies: a typo is a
422); :class:`TolerantModel` ignores them (what one release writes and another
reads: events, commands, answers, SSE data; DESIGN §11).
"""

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


class TolerantModel(WireModel):
    """A :class:`WireModel` that ignores fields it does not know (a tolerant reader).

    A newer release may add a field to an event, a command or an answer; a reader
    of an older release still takes the message, without that field, instead of
    refusing (or, on the event log, parking) it. What bumps ``schemaVersion``
    instead is in docs/evolution.md.
    """

    model_config = ConfigDict(extra="ignore")

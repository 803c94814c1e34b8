"""Commands a service publishes to the API over RabbitMQ, and their replies (DESIGN §9).

A :class:`CreateNotificationCommand` is exactly a REST create body plus a
``commandId`` (the sender's Idempotency-Key) and a ``schemaVersion``; its fields
are validated by the same rules as ``POST /api/v1/notifications``. Readers are
tolerant (DESIGN §11): fields a newer sender adds are ignored, while an unknown
``schemaVersion`` is refused.

A command with ``reply_to`` is answered with a :data:`CommandReply`:
``{"ok": true, "notification": {...}}``, ``{"ok": true, "suppressed": true, "reason":
"preference"}`` (the recipient turned the type off: nothing was created, DESIGN §13)
or ``{"ok": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import ConfigDict, Field, TypeAdapter, model_validator

from qahub_contracts._model import WireModel
from qahub_contracts.api import CreateNotification, ErrorDetail, Notification

__all__ = [
    "CommandFailed",
    "CommandReply",
    "CommandSucceeded",
    "CreateNotificationCommand",
    "decode_reply",
]


class CreateNotificationCommand(CreateNotification):
    """Body of a ``notification.create`` command: a REST create body with an id and version."""

    model_config = ConfigDict(extra="ignore")

    command_id: UUID
    schema_version: Literal[1]


class CommandSucceeded(WireModel):
    """Reply to a command that created (or had already created) its notification, or that
    the recipient's preferences suppressed (``suppressed``: no ``notification`` then)."""

    model_config = ConfigDict(extra="ignore")

    ok: Literal[True] = True
    notification: Annotated[Notification | None, Field(exclude_if=lambda n: n is None)] = None
    suppressed: Annotated[bool, Field(exclude_if=lambda s: not s)] = False
    reason: Annotated[Literal["preference"] | None, Field(exclude_if=lambda r: r is None)] = None

    @model_validator(mode="after")
    def _a_notification_unless_suppressed(self) -> Self:
        if (self.notification is None) != self.suppressed:
            msg = "a reply carries the notification, or suppressed: true without one"
            raise ValueError(msg)
        return self


class CommandFailed(WireModel):
    """Reply to a command that was refused; ``error.code`` is REST's code for the same refusal."""

    model_config = ConfigDict(extra="ignore")

    ok: Literal[False] = False
    error: ErrorDetail


CommandReply = Annotated[CommandSucceeded | CommandFailed, Field(discriminator="ok")]
"""Either reply, told apart by ``ok``."""

_reply: TypeAdapter[CommandReply] = TypeAdapter(CommandReply)


def decode_reply(body: bytes | str) -> CommandSucceeded | CommandFailed:
    """Parse a reply from its wire form.

    Raises:
        pydantic.ValidationError: the body is not JSON or not a reply.
    """
    return _reply.validate_json(body)

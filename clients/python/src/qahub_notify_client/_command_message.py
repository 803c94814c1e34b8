"""A DESIGN §9 command as a sender publishes it: the validated body and the message.

The body is checked with REST's rules before anything is published (the API would
dead-letter a bad one unread); the message is persistent JSON whose ``message_id``
is the ``commandId`` and whose ``authorization`` header carries the bearer token.
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from uuid import UUID

import aio_pika
from pydantic import ValidationError

from qahub_contracts.commands import CreateNotificationCommand
from qahub_contracts.topology import (
    AUTHORIZATION_HEADER,
    COMMAND_CONTENT_TYPE,
    COMMAND_SCHEMA_VERSION,
)
from qahub_notify_client._errors import ValidationFailed

__all__ = ["LOST", "command_of", "message_of"]

# What a publish raises when its connection, channel or confirm is lost.
LOST: Final = (
    aio_pika.exceptions.AMQPError,
    aio_pika.exceptions.ChannelInvalidStateError,  # a RuntimeError: the channel is reopening
    ConnectionError,
    TimeoutError,
)


def command_of(
    to: str, type_: str, data: str | dict[str, Any], command_id: UUID | None
) -> CreateNotificationCommand:
    """The command to ``to``, with a fresh ``commandId`` unless one is given.

    Raises:
        ValidationFailed: the command breaks REST's rules.
    """
    try:
        return CreateNotificationCommand(
            command_id=command_id or uuid.uuid4(),
            schema_version=COMMAND_SCHEMA_VERSION,
            type=type_,
            notifiable_type="user",
            notifiable_id=to,
            data=data,
        )
    except ValidationError as exc:  # refused here: the API would dead-letter it unread
        raise ValidationFailed(str(exc), status=422, code="validation_error") from None


def message_of(
    command: CreateNotificationCommand, token: str, correlation_id: str | None, reply_to: str | None
) -> aio_pika.Message:
    """The persistent JSON message of ``command`` (``reply_to``: where a reply goes)."""
    return aio_pika.Message(
        command.model_dump_json().encode(),
        content_type=COMMAND_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(command.command_id),
        headers={AUTHORIZATION_HEADER: f"Bearer {token}"},
        correlation_id=correlation_id,
        reply_to=reply_to,
    )

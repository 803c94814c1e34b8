"""The commands door (DESIGN §9): a create that arrives over RabbitMQ instead of REST.

:class:`Commands` turns a ``notification.create`` command into exactly what
``POST /api/v1/notifications`` does: the same token rules, the same create use
case and group commit, ``commandId`` as the sender's Idempotency-Key (shared
with REST). The subscriber (:mod:`~notifications_api.command_broker`) acks a
command only after this returns, that is after the commit.

A command that can never succeed (not JSON, a schema violation, an unknown
``schemaVersion``, a missing or invalid token, a forbidden recipient, a
commandId reused with another body) is published to the dead-letter exchange
with its body, its properties and the headers ``x-qahub-error`` (the code)
and ``x-qahub-error-message``, then acked: it never blocks the queue. The
``authorization`` header is left out of the dead letter (a dead letter must not
hand out a live token). While the database is unavailable a command waits at
the :class:`~notifications_api.database_gate.DatabaseGate` instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

import orjson
from faststream.rabbit import ExchangeType, RabbitExchange

from notifications_api.database_gate import UNAVAILABLE_ERRORS, DatabaseGate, is_unavailable
from notifications_api.errors import Unauthorized
from notifications_api.metrics import ApiMetrics
from notifications_api.notifications import Notifications
from qahub_contracts import api
from qahub_contracts.auth import Principal, TokenError, TokenVerifier
from qahub_contracts.commands import CommandFailed, CommandSucceeded, CreateNotificationCommand
from qahub_contracts.errors import ErrorCode
from qahub_contracts.topology import (
    AUTHORIZATION_HEADER,
    COMMAND_DLX,
    COMMAND_QUEUE,
    COMMAND_SCHEMA_VERSION,
    ERROR_HEADER,
    ERROR_MESSAGE_HEADER,
)

if TYPE_CHECKING:
    from faststream.rabbit import RabbitBroker, RabbitMessage

__all__ = ["DEAD_LETTERS", "Commands", "refusal_of_body"]

log = logging.getLogger("notifications_api.commands")

DEAD_LETTERS: Final = RabbitExchange(COMMAND_DLX, type=ExchangeType.FANOUT, durable=True)


class Commands:
    """Handles ``notification.create`` commands; :attr:`broker` is set by the subscriber."""

    def __init__(
        self,
        notifications: Notifications,
        verifier: TokenVerifier,
        metrics: ApiMetrics,
        gate: DatabaseGate,
    ) -> None:
        self._notifications = notifications
        self._verifier = verifier
        self._metrics = metrics
        self._gate = gate
        self.broker: RabbitBroker | None = None

    async def create(
        self, command: CreateNotificationCommand, headers: dict[str, Any]
    ) -> dict[str, Any]:
        """Create the command's notification (once per commandId); the reply, after commit.

        Raises:
            Unauthorized: no bearer token in ``authorization``, or an invalid one.
            Forbidden: a user token names another recipient.
            IdempotencyConflict: this commandId came before with another body.
            Any other error while the database answers: the message is returned to
            the queue, whose delivery limit dead-letters one that keeps failing.
        """
        caller = await self._caller(headers)
        # The REST body the command carries (every field REST has, and only those).
        fields = api.CreateNotification.model_fields
        request = api.CreateNotification(**{name: getattr(command, name) for name in fields})
        key = str(command.command_id)
        while True:
            await self._gate.passed()
            try:
                notification = await self._notifications.create(caller, request, key)
            except UNAVAILABLE_ERRORS as exc:
                # The database still answers: the error is this command's own (a bug
                # or a value the database refuses); it goes back to the queue.
                if not is_unavailable(exc) or await self._gate.answers():
                    raise
                self._gate.close(exc)
                continue
            if isinstance(notification, api.Suppressed):
                self._metrics.commands.labels("suppressed", "").inc()
                reply = CommandSucceeded(suppressed=True, reason=notification.reason)
            else:
                self._metrics.commands.labels("created", "").inc()
                reply = CommandSucceeded(notification=notification)
            return reply.model_dump(mode="json")

    async def _caller(self, headers: dict[str, Any]) -> Principal:
        value = headers.get(AUTHORIZATION_HEADER)
        scheme, _, token = (
            value.decode() if isinstance(value, bytes) else str(value or "")
        ).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token (header authorization: Bearer <jwt>)")
        try:
            return await self._verifier.verify(token.strip())
        except TokenError as exc:
            raise Unauthorized(str(exc)) from None

    async def refuse(self, message: RabbitMessage, code: ErrorCode, reason: str) -> dict[str, Any]:
        """Dead-letter ``message`` with ``code`` and ``reason``; the reply to send, if any."""
        if self.broker is None:  # pragma: no cover - set before the subscriber starts
            raise RuntimeError("the command subscriber has no broker")
        raw = message.raw_message
        headers = {k: v for k, v in (raw.headers or {}).items() if k != AUTHORIZATION_HEADER}
        await self.broker.publish(
            message.body,
            exchange=DEAD_LETTERS,
            routing_key=COMMAND_QUEUE,
            persist=True,
            headers={**headers, ERROR_HEADER: code.value, ERROR_MESSAGE_HEADER: reason[:500]},
            content_type=raw.content_type,
            content_encoding=raw.content_encoding,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            reply_to=raw.reply_to,
            timestamp=raw.timestamp,
            message_type=raw.type,
            priority=raw.priority,
        )
        self._metrics.commands.labels("dead_lettered", code.value).inc()
        log.warning("command %s dead-lettered: %s: %s", raw.message_id or "-", code.value, reason)
        error = api.ErrorDetail(code=code.value, message=reason)
        return CommandFailed(error=error).model_dump(mode="json")


def refusal_of_body(body: bytes, error: Exception) -> tuple[ErrorCode, str]:
    """The code and message for a body FastStream could not read into a command."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorCode.INVALID_JSON, "the command is not valid JSON"
    if isinstance(document, dict):
        version = document.get("schemaVersion")
        if version is not None and version != COMMAND_SCHEMA_VERSION:
            message = f"schemaVersion {version!r} is not supported (this API reads 1)"
            return ErrorCode.UNSUPPORTED_SCHEMA_VERSION, message
    errors = getattr(error, "errors", None)
    first = errors()[0] if callable(errors) and errors() else None
    if first is None:
        return ErrorCode.VALIDATION_ERROR, str(error).splitlines()[0][:200]
    loc = list(first.get("loc", ()))
    where = ".".join(str(p) for p in (loc[1:] if loc[:1] == ["command"] else loc))
    text = str(first.get("msg", "invalid command")).removeprefix("Value error, ")
    return ErrorCode.VALIDATION_ERROR, f"{where}: {text}" if where else text

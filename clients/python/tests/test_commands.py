"""CommandSender over the real RabbitMQ: the message DESIGN §9 describes, confirms, replies.

A test queue bound to the command exchange stands in for the API where the
message itself is checked; the end-to-end tests need the API's command consumer
and are skipped, saying so, while it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from tests.support.commands import wait_for_command_consumer
from tests.support.proxy import tcp_proxy
from tests.support.servers import eventually

from qahub_notify_client import (
    AsyncCommandSender,
    AsyncNotificationsClient,
    CommandSender,
    Forbidden,
    Unavailable,
    ValidationFailed,
)

from .conftest import Stack, received

NOTIFICATION = {
    "id": "00000000-0000-4000-8000-000000000001",
    "type": "t",
    "notifiableType": "user",
    "notifiableId": "42",
    "data": "hi",
    "readAt": None,
    "createdAt": "2026-01-01T00:00:00Z",
}


class TestMessage:
    """What a sender puts on the wire is what DESIGN §9 names."""

    async def test_properties_headers_and_body(self, rabbitmq_url: str, commands):
        async with AsyncCommandSender(rabbitmq_url, "svc-token") as sender:
            command_id = await sender.send("42", "invoice.paid", {"invoice": 1})
        message = await received(commands)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.message_id == str(command_id)
        assert message.headers["authorization"] == "Bearer svc-token"
        assert json.loads(message.body) == {
            "commandId": str(command_id),
            "schemaVersion": 1,
            "type": "invoice.paid",
            "notifiableType": "user",
            "notifiableId": "42",
            "data": {"invoice": 1},
        }

    async def test_a_given_command_id_is_kept_and_a_callable_token_asked(
        self, rabbitmq_url: str, commands
    ):
        chosen = uuid.uuid4()
        async with AsyncCommandSender(rabbitmq_url, lambda: "fresh") as sender:
            assert await sender.send("42", "t", "x", command_id=chosen) == chosen
        message = await received(commands)
        assert message.message_id == str(chosen)
        assert message.headers["authorization"] == "Bearer fresh"

    async def test_the_blocking_twin_publishes_the_same(self, rabbitmq_url: str, commands):
        def send() -> uuid.UUID:
            with CommandSender(rabbitmq_url, "svc-token") as sender:
                return sender.send("42", "t", "x")

        command_id = await asyncio.to_thread(send)
        assert (await received(commands)).message_id == str(command_id)


class TestRefusals:
    """A command that could not reach the API raises; nothing is lost silently."""

    async def test_invalid_command_is_refused_before_publishing(self, rabbitmq_url: str, commands):
        async with AsyncCommandSender(rabbitmq_url, "t") as sender:
            with pytest.raises(ValidationFailed):
                await sender.send("42", "", "x")
        assert await commands.get(fail=False) is None

    async def test_no_queue_for_commands_is_unavailable(self, rabbitmq_url: str):
        async with AsyncCommandSender(rabbitmq_url, "t") as sender:
            with pytest.raises(Unavailable) as caught:
                await sender.send("42", "t", "x")
        assert "no queue" in caught.value.message

    async def test_no_broker_is_unavailable(self):
        async with AsyncCommandSender("amqp://guest:guest@127.0.0.1:1/", "t", timeout=2) as sender:
            with pytest.raises(Unavailable):
                await sender.send("42", "t", "x")


@contextlib.asynccontextmanager
async def replying(queue: aio_pika.abc.AbstractQueue, answer: dict[str, object] | None):
    """Answer every command on ``queue`` with ``answer`` (``None``: never answer)."""
    channel = queue.channel

    async def on_command(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            if answer is not None and message.reply_to:
                reply = aio_pika.Message(
                    json.dumps(answer).encode(), correlation_id=message.correlation_id
                )
                await channel.default_exchange.publish(reply, message.reply_to)

    tag = await queue.consume(on_command)
    try:
        yield
    finally:
        await queue.cancel(tag)


class TestRequest:
    """``request`` waits for the reply with its correlation id."""

    async def test_concurrent_requests_each_get_their_own_reply(self, rabbitmq_url: str, commands):
        channel = commands.channel

        async def echo(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                command = json.loads(message.body)
                notification = {**NOTIFICATION, "data": command["data"]}
                reply = json.dumps({"ok": True, "notification": notification}).encode()
                assert message.reply_to
                await channel.default_exchange.publish(
                    aio_pika.Message(reply, correlation_id=message.correlation_id),
                    message.reply_to,
                )

        await commands.consume(echo)
        async with AsyncCommandSender(rabbitmq_url, "t") as sender:
            replies = await asyncio.gather(*(sender.request("42", "t", f"n{i}") for i in range(20)))
        assert [r.data for r in replies] == [f"n{i}" for i in range(20)]

    async def test_the_blocking_twin_waits_for_the_reply(self, rabbitmq_url: str, commands):
        def request() -> str:
            with CommandSender(rabbitmq_url, "t") as sender:
                return str(sender.request("42", "t", "hi").id)

        async with replying(commands, {"ok": True, "notification": NOTIFICATION}):
            assert await asyncio.to_thread(request) == NOTIFICATION["id"]

    async def test_a_success_reply_returns_the_notification(self, rabbitmq_url: str, commands):
        async with (
            replying(commands, {"ok": True, "notification": NOTIFICATION}),
            AsyncCommandSender(rabbitmq_url, "t") as sender,
        ):
            created = await sender.request("42", "t", "hi")
        assert str(created.id) == NOTIFICATION["id"]

    async def test_a_failure_reply_raises_rest_error(self, rabbitmq_url: str, commands):
        error = {"ok": False, "error": {"code": "forbidden", "message": "not yours"}}
        async with (
            replying(commands, error),
            AsyncCommandSender(rabbitmq_url, "t") as sender,
        ):
            with pytest.raises(Forbidden) as caught:
                await sender.request("42", "t", "hi")
        assert (caught.value.status, caught.value.message) == (403, "not yours")

    async def test_no_reply_in_time_is_unavailable(self, rabbitmq_url: str, commands):
        async with (
            replying(commands, None),
            AsyncCommandSender(rabbitmq_url, "t") as sender,
        ):
            with pytest.raises(Unavailable):
                await sender.request("42", "t", "hi", timeout=0.5)


class TestAgainstTheApi:
    """End to end: the API creates what the sender commands, once per commandId."""

    @pytest.fixture(autouse=True)
    async def _consumer(self, stack: Stack) -> None:
        await wait_for_command_consumer(stack.rabbitmq_url)

    async def test_send_request_and_the_same_command_id_twice(self, stack: Stack):
        command_id = uuid.uuid4()
        async with (
            AsyncCommandSender(stack.rabbitmq_url, stack.service_token()) as sender,
            AsyncNotificationsClient(stack.api_url, stack.token("42")) as user,
        ):
            await sender.send("42", "t", "sent", command_id=command_id)
            await sender.send("42", "t", "sent", command_id=command_id)
            replied = await sender.request("42", "t", "requested")
            first = await sender.request("42", "t", "sent", command_id=command_id)
            listed = [n async for n in user.list()]
        by_data = {n.data: n.id for n in listed}  # the two may commit in either order
        assert len(listed) == 2
        assert by_data == {"sent": first.id, "requested": replied.id}

    async def test_a_command_id_is_the_idempotency_key_of_rest_too(self, stack: Stack):
        command_id, token = uuid.uuid4(), stack.service_token()
        async with (
            AsyncCommandSender(stack.rabbitmq_url, token) as sender,
            AsyncNotificationsClient(stack.api_url, token) as service,
        ):
            commanded = await sender.request("42", "t", "once", command_id=command_id)
            posted = await service.send("42", "t", "once", idempotency_key=str(command_id))
        assert posted.id == commanded.id

    async def test_a_commanded_notification_reaches_the_users_stream(self, stack: Stack):
        async with (
            AsyncCommandSender(stack.rabbitmq_url, stack.service_token()) as sender,
            AsyncNotificationsClient(
                stack.api_url, stack.token("42"), stream_url=stack.relay_url
            ) as user,
            user.events() as events,
        ):
            async with asyncio.timeout(20):
                async for event in events:
                    if event.event == "recent":
                        command_id = await sender.send("42", "invoice.paid", {"invoice": 9})
                    if event.event == "notification":
                        break
        assert event.data["data"] == {"invoice": 9}
        assert event.data["type"] == "invoice.paid"
        assert command_id

    async def test_a_user_token_may_not_command_for_someone_else(self, stack: Stack):
        async with AsyncCommandSender(stack.rabbitmq_url, stack.token("alice")) as sender:
            with pytest.raises(Forbidden):
                await sender.request("bob", "t", "x")


class TestBrokerLoss:
    """A sender survives its broker connection: refused while cut, working once back."""

    async def test_sends_again_after_the_connection_comes_back(self, rabbitmq_url: str, commands):
        parts = urlsplit(rabbitmq_url)
        async with tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy:
            proxied = urlunsplit(parts._replace(netloc=f"guest:guest@127.0.0.1:{proxy.port}"))
            async with AsyncCommandSender(proxied, "t", timeout=2) as sender:
                await sender.send("42", "t", "before")
                await proxy.cut()
                with pytest.raises(Unavailable):
                    await sender.send("42", "t", "while cut")
                proxy.restore()

                async def sent_again() -> bool:
                    try:
                        await sender.send("42", "t", "after")
                    except Unavailable:
                        return False
                    return True

                await eventually(sent_again, timeout=20, what="a send after the broker is back")
        assert [json.loads((await received(commands)).body)["data"] for _ in range(2)] == [
            "before",
            "after",
        ]

"""NotificationsStack in local mode and its Inbox, on the real system."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from tests.support.servers import free_port
from tests.testing.conftest import notify

from qahub_notify.testing import NotificationsStack
from qahub_notify_client import Forbidden, Unauthorized

pytestmark = pytest.mark.timeout(300)  # the first test waits for two stacks to start


class TestInbox:
    """wait_for and assert_no_notification say what they awaited and what arrived."""

    def test_wait_for_returns_the_first_match_by_type_and_data_subset(self, stack):
        inbox = stack.inbox("u-match")
        notify(stack, "u-match", "invoice.created", {"invoice": 1})
        created = notify(stack, "u-match", "invoice.paid", {"invoice": 1, "total": 5})
        paid = inbox.wait_for(type="invoice.paid", data={"invoice": 1})
        assert paid == created
        assert (paid.type, paid.data, paid.notifiable_id) == (
            "invoice.paid",
            {"invoice": 1, "total": 5},
            "u-match",
        )
        assert [n.type for n in inbox.notifications] == ["invoice.created", "invoice.paid"]
        assert inbox.wait_for(data={"total": 5}).id == paid.id
        inbox.close()

    def test_wait_for_times_out_naming_what_was_awaited_and_listing_what_arrived(self, stack):
        inbox = stack.inbox("u-timeout")
        notify(stack, "u-timeout", "invoice.created", {"invoice": 7})
        inbox.wait_for(type="invoice.created")
        with pytest.raises(AssertionError) as failure:
            inbox.wait_for(type="invoice.paid", data={"invoice": 7}, timeout=0.3)
        message = str(failure.value)
        assert "user 'u-timeout' received no notification with type='invoice.paid'" in message
        assert "data=containing {'invoice': 7} within 0.3s" in message
        assert "1 arrived:\n  - type='invoice.created' data={'invoice': 7}" in message
        inbox.close()

    def test_wait_for_says_when_nothing_arrived_at_all(self, stack):
        inbox = stack.inbox("u-nothing")
        with pytest.raises(
            AssertionError, match=r"no notification at all within 0\.2s; nothing arrived"
        ):
            inbox.wait_for(timeout=0.2)
        inbox.close()

    def test_assert_no_notification_passes_on_silence_and_lists_an_arrival(self, stack):
        inbox = stack.inbox("u-silence")
        inbox.assert_no_notification(within=0.2)
        notify(stack, "u-silence", "hello", "hi there")
        with pytest.raises(
            AssertionError,
            match=r"expected no notification; 1 arrived:\n  - type='hello' data='hi there'",
        ):
            inbox.assert_no_notification(within=5)
        inbox.close()

    def test_an_inbox_sees_only_its_own_user(self, stack):
        mine, theirs = stack.inbox("u-mine"), stack.inbox("u-theirs")
        notify(stack, "u-theirs", "for.them", {})
        theirs.wait_for(type="for.them")
        mine.assert_no_notification(within=0.3)
        mine.close()
        theirs.close()

    def test_notifications_from_before_it_opened_are_not_counted(self, stack):
        notify(stack, "u-earlier", "old.news", {"n": 1})
        inbox = stack.inbox("u-earlier")
        inbox.assert_no_notification(within=0.3)
        assert any(e.event == "recent" and e.data["notifications"] for e in inbox.events)
        inbox.close()

    def test_close_ends_the_stream_on_the_relay(self, stack):
        inbox = stack.inbox("u-close")
        admin = stack.token("u-close", role="admin")
        connections = f"{stack.stream_url}/api/v1/notifications/stream/connections"

        def streams() -> int:
            response = httpx.get(connections, headers={"Authorization": f"Bearer {admin}"})
            return int(response.json()["user"])

        assert streams() == 1
        inbox.close()
        _eventually(lambda: streams() == 0, "the relay to drop the closed inbox's stream")


class TestIsolation:
    """Stacks on one broker share nothing: not notifications, not tokens."""

    def test_two_stacks_on_one_broker_do_not_see_each_others_notifications(self, stacks):
        first, second = stacks
        assert first.rabbitmq_url != second.rabbitmq_url
        in_first, in_second = first.inbox("42"), second.inbox("42")
        notify(first, "42", "only.first", {"stack": 1})
        assert in_first.wait_for(type="only.first").data == {"stack": 1}
        in_second.assert_no_notification(within=1.0)
        again_in_first = first.inbox("42")
        notify(second, "42", "only.second", {"stack": 2})
        assert in_second.wait_for(type="only.second").data == {"stack": 2}
        again_in_first.assert_no_notification(within=1.0)
        for inbox in (in_first, in_second, again_in_first):
            inbox.close()

    def test_each_stack_signs_with_its_own_secret(self, stacks):
        first, second = stacks
        foreign = first.client(second.token("billing", scope="notifications:publish"))
        with pytest.raises(Unauthorized):
            foreign.send(to="1", type="t", data={})


class TestWithoutTheManagementApi:
    """No vhost can be made: the stack runs on the URL's vhost as given, and says so."""

    def test_runs_on_the_given_vhost_with_a_warning(self, rabbitmq_url, monkeypatch, caplog):
        monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", f"http://127.0.0.1:{free_port()}")
        with (
            caplog.at_level("WARNING", logger="qahub_notify.testing"),
            NotificationsStack("local", rabbitmq_url=rabbitmq_url) as stack,
        ):
            assert stack.rabbitmq_url == rabbitmq_url
            inbox = stack.inbox("u-shared")
            notify(stack, "u-shared", "still.works", {})
            inbox.wait_for(type="still.works")
        assert "no vhost of its own for this stack" in caplog.text


class TestTokens:
    """token() mints what the stack's services accept; client() speaks as that token."""

    def test_a_user_token_may_only_notify_itself(self, stack):
        user = stack.client(stack.token("u-self"))
        assert user.send(to="u-self", type="t", data={}).notifiable_id == "u-self"
        with pytest.raises(Forbidden):
            user.send(to="other", type="t", data={})

    def test_the_client_reads_what_the_inbox_saw(self, stack):
        inbox = stack.inbox("u-client")
        notify(stack, "u-client", "invoice.paid", {"invoice": 3})
        seen = inbox.wait_for(type="invoice.paid")
        user = stack.client(stack.token("u-client"))
        assert [n.id for n in user.list()] == [seen.id]
        assert user.stats().unread == 1
        inbox.close()


class TestUsage:
    """Misuse is a clear error, before anything starts."""

    def test_an_unknown_mode_is_refused(self):
        with pytest.raises(ValueError, match="mode must be one of auto, local, docker"):
            NotificationsStack("kubernetes")  # type: ignore[arg-type]

    def test_docker_mode_brings_its_own_broker(self):
        with pytest.raises(ValueError, match="docker mode runs its own RabbitMQ"):
            NotificationsStack("docker", rabbitmq_url="amqp://localhost/")

    def test_a_stack_not_started_says_so(self):
        with pytest.raises(RuntimeError, match="the stack is not running"):
            _ = NotificationsStack("local").api_url


def _eventually(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


class TestImageHealthcheck:
    """python -m qahub_notify.healthcheck (the image's check) on real service processes."""

    def healthcheck(self, pid: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qahub_notify.healthcheck", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def test_healthy_for_the_api_and_the_relay(self, stack):
        pids = stack._backend.pids
        assert len(pids) == 2
        for pid in pids:
            assert self.healthcheck(pid).returncode == 0

    def test_unhealthy_when_the_service_does_not_answer(self):
        port = str(free_port())
        idle = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time; time.sleep(60)",
                "qahub-notify",
                "relay",
                "--port",
                port,
            ]
        )
        try:
            result = self.healthcheck(idle.pid)
        finally:
            idle.kill()
            idle.wait()
        assert result.returncode == 1
        assert f"unhealthy: http://127.0.0.1:{port}/readyz" in result.stderr

    def test_unhealthy_when_no_service_runs(self):
        result = self.healthcheck(os.getpid())
        assert result.returncode == 1
        assert "no qahub-notify api, relay or dev process found" in result.stderr

"""Broker endpoints: the RABBITMQ_URL list, its validation, TLS files and fail-over."""

from __future__ import annotations

import socket

import pytest

from qahub_contracts import amqp_endpoints, topology
from qahub_contracts.amqp_endpoints import BrokerEndpoints, parse_urls, redact
from qahub_contracts.config import ConfigError, SharedSettings, load

SECRET = "s" * 40


def _settings(**env: object) -> SharedSettings:
    return load(SharedSettings, jwt_secret=SECRET, **env)


def _refused_url() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/"


class TestUrlList:
    """RABBITMQ_URL: one node or several, comma-separated; each checked."""

    def test_exports_are_sorted(self):
        assert amqp_endpoints.__all__ == sorted(amqp_endpoints.__all__)

    def test_one_node(self):
        assert parse_urls("amqp://h:5672/") == ("amqp://h:5672/",)

    def test_several_nodes_in_order_blanks_ignored(self):
        value = " amqps://a:5671/ , amqps://b:5671/v ,, amqps://c/ "
        assert parse_urls(value) == ("amqps://a:5671/", "amqps://b:5671/v", "amqps://c/")

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("", "at least one node"),
            (" , ", "at least one node"),
            ("amqp://a/,http://b/", "http://b/ must start with amqp:// or amqps://"),
            ("amqp:///vhost", "names no host"),
            ("amqps://a/,amqp://b/", "mixes amqp:// and amqps://"),
        ],
    )
    def test_bad_lists_are_one_line_errors(self, value, message):
        with pytest.raises(ConfigError, match=f"^RABBITMQ_URL: .*{message}") as caught:
            _settings(rabbitmq_url=value)
        assert "\n" not in str(caught.value)

    def test_a_password_never_reaches_an_error(self):
        with pytest.raises(ConfigError) as caught:
            _settings(rabbitmq_url="amqp://u:hunter2@a/,ftp://u:hunter2@b/")
        assert "hunter2" not in str(caught.value)
        assert redact("amqp://u:hunter2@a:5672/") == "amqp://u@a:5672/"


class TestSettings:
    """EVENT_LOG_REPLICAS and the TLS files are validated at start-up."""

    def test_replicas_default_to_one_and_leave_the_argument_out(self):
        assert _settings().event_log_replicas == 1
        assert "x-initial-cluster-size" not in topology.stream_arguments("1h")

    def test_replicas_become_the_initial_cluster_size(self):
        assert _settings(event_log_replicas=3).event_log_replicas == 3
        args = topology.stream_arguments("1h", replicas=3)
        assert args["x-initial-cluster-size"] == 3

    @pytest.mark.parametrize("value", [0, -1, "three"])
    def test_bad_replicas(self, value):
        with pytest.raises(ConfigError, match=r"^EVENT_LOG_REPLICAS: "):
            _settings(event_log_replicas=value)

    def test_a_missing_file(self, tmp_path):
        with pytest.raises(ConfigError, match=r"^RABBITMQ_CA_FILE: .* is not a readable file$"):
            _settings(rabbitmq_url="amqps://h/", rabbitmq_ca_file=tmp_path / "nope.pem")

    def test_a_file_that_is_not_a_certificate(self, tmp_path):
        junk = tmp_path / "ca.pem"
        junk.write_text("not a certificate\n")
        with pytest.raises(ConfigError, match=r"^RABBITMQ_CA_FILE: not a PEM CA certificate"):
            _settings(rabbitmq_url="amqps://h/", rabbitmq_ca_file=junk)
        with pytest.raises(ConfigError, match=r"^RABBITMQ_CERT_FILE: not a PEM certificate"):
            _settings(rabbitmq_url="amqps://h/", rabbitmq_cert_file=junk)

    def test_a_key_needs_its_certificate(self, tmp_path):
        key = tmp_path / "key.pem"
        key.write_text("x")
        with pytest.raises(ConfigError, match=r"^RABBITMQ_KEY_FILE: set RABBITMQ_CERT_FILE"):
            _settings(rabbitmq_url="amqps://h/", rabbitmq_key_file=key)

    def test_tls_files_without_an_amqps_node(self, tmp_path):
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        with pytest.raises(ConfigError, match=r"^RABBITMQ_CA_FILE: set, but no RABBITMQ_URL"):
            _settings(rabbitmq_url="amqp://h/", rabbitmq_ca_file=ca)

    def test_one_endpoints_object_per_settings(self):
        settings = _settings(rabbitmq_url="amqp://a/,amqp://b/")
        assert settings.broker_endpoints is settings.broker_endpoints
        assert settings.broker_endpoints.urls == ("amqp://a/", "amqp://b/")


class TestFailOver:
    """A connection takes the first node that answers, and keeps to it next time."""

    async def test_a_dead_first_node_is_skipped(self, rabbitmq_url):
        dead = _refused_url()
        endpoints = BrokerEndpoints([dead, rabbitmq_url])
        connection = await endpoints.connect_aio_pika(name="fail-over-test", timeout=5)
        try:
            assert not connection.is_closed
            assert endpoints.ordered() == [rabbitmq_url, dead]  # the live node first now
        finally:
            await connection.close()

    async def test_no_node_answering_raises_the_last_error(self):
        endpoints = BrokerEndpoints([_refused_url(), _refused_url()])
        with pytest.raises(ConnectionError):
            await endpoints.connect_aio_pika(name="fail-over-test", timeout=2)

    async def test_the_opener_gets_a_tls_context_only_for_amqps(self):
        seen = []

        async def opener(url, tls):
            seen.append((url, tls is not None))
            raise OSError("refused")

        endpoints = BrokerEndpoints(["amqp://a/", "amqps://b/"])
        with pytest.raises(OSError, match="refused"):
            await endpoints.connect(opener)
        assert seen == [("amqp://a/", False), ("amqps://b/", True)]

    def test_a_node_moved_past_is_tried_last(self):
        endpoints = BrokerEndpoints(["amqp://a/", "amqp://b/", "amqp://c/"])
        endpoints.move_past("amqp://b/")
        assert endpoints.ordered() == ["amqp://c/", "amqp://a/", "amqp://b/"]
        endpoints.move_past("amqp://c/")
        assert endpoints.ordered() == ["amqp://a/", "amqp://b/", "amqp://c/"]


class TestRobustFailOver:
    """A robust connection that lost its node is pointed at the next one (a close callback)."""

    def test_the_next_node_in_turn(self):
        from types import SimpleNamespace  # noqa: PLC0415

        from yarl import URL  # noqa: PLC0415

        endpoints = BrokerEndpoints(
            ["amqp://u:p@a:5672/v", "amqp://u:p@b/v", "amqp://u:p@c:5673/v"]
        )
        connection = SimpleNamespace(url=URL("amqp://u:p@a/v?heartbeat=30"))
        endpoints.fail_over(connection, ConnectionError("gone"))
        assert connection.url.host == "b"  # port: the scheme's default
        endpoints.fail_over(connection, None)
        assert (connection.url.host, connection.url.port) == ("c", 5673)
        endpoints.fail_over(connection, None)
        assert connection.url.host == "a"
        assert connection.url.password == "p"
        assert connection.url.path == "/v"

    def test_one_node_stays(self):
        from types import SimpleNamespace  # noqa: PLC0415

        from yarl import URL  # noqa: PLC0415

        connection = SimpleNamespace(url=URL("amqp://a/"))
        BrokerEndpoints(["amqp://a/"]).fail_over(connection)
        assert connection.url == URL("amqp://a/")

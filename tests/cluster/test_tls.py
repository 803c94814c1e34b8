"""TLS to the broker (DESIGN §12): amqps:// with a private CA and a client certificate.

Every node of the test cluster has a TLS listener that requires a client
certificate signed by the CA the test made (tests/support/pki.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import api_settings, migrate
from tests.reliability.conftest import Cluster as Stack
from tests.reliability.conftest import user_token
from tests.support.cluster import RabbitCluster
from tests.support.pki import Pki
from tests.support.servers import eventually, serving
from tests.support.subscriber import Subscriber

from notifications_api.app import create_app as create_api
from qahub_contracts.amqp_endpoints import BrokerEndpoints, TlsFiles

pytestmark = pytest.mark.cluster


class TestBrokerTls:
    """The TLS listener wants the test CA's client certificate, and nothing else gets in."""

    async def test_client_certificate_connects(self, rabbit_cluster, cluster_vhost, pki):
        tls = TlsFiles(pki.ca, pki.client_cert, pki.client_key)
        endpoints = BrokerEndpoints([rabbit_cluster.nodes[0].url(cluster_vhost, tls=True)], tls)
        connection = await endpoints.connect_aio_pika(name="tls-test")
        await connection.close()

    async def test_no_client_certificate_is_refused(self, rabbit_cluster, cluster_vhost, pki):
        endpoints = BrokerEndpoints(
            [rabbit_cluster.nodes[0].url(cluster_vhost, tls=True)], TlsFiles(pki.ca)
        )
        with pytest.raises(Exception):  # noqa: B017 - the TLS alert's form varies
            await endpoints.connect_aio_pika(name="tls-test", timeout=5)

    async def test_an_unknown_ca_is_refused(self, rabbit_cluster, cluster_vhost):
        endpoints = BrokerEndpoints([rabbit_cluster.nodes[0].url(cluster_vhost, tls=True)])
        with pytest.raises(Exception):  # noqa: B017 - certificate verify failed
            await endpoints.connect_aio_pika(name="tls-test", timeout=5)


class TestServicesOverTls:
    """The API and a relay (its own stream reader included) work over amqps:// only."""

    async def test_a_notification_flows_over_tls(
        self, rabbit_cluster: RabbitCluster, cluster_vhost: str, pki: Pki, tmp_path: Path
    ):
        urls = rabbit_cluster.urls(cluster_vhost, [3, 1, 2], tls=True)
        files = {
            "rabbitmq_ca_file": pki.ca,
            "rabbitmq_cert_file": pki.client_cert,
            "rabbitmq_key_file": pki.client_key,
        }
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
        await migrate(database_url)
        settings = api_settings(database_url, urls, event_log_replicas=3, **files)
        async with serving(create_api(settings)) as api_url:
            stack = Stack(api_url, urls, tmp_path)
            env = {name.upper(): str(path) for name, path in files.items()}
            try:
                stack.relays.append(
                    await stack.start_relay(rabbitmq_url=urls, EVENT_LOG_REPLICAS="3", **env)
                )
                tab = Subscriber("tls-user", lambda: user_token("tls-user"), stack.relay_urls)
                tab.start()
                try:
                    await eventually(
                        lambda: _connected(tab), timeout=30, what="the subscriber to connect"
                    )
                    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
                        assert await stack.write(http, "tls-user", "over TLS")
                    await eventually(
                        lambda: _received(tab), timeout=30, what="the notification over TLS"
                    )
                finally:
                    await tab.stop()
                connections = await asyncio.to_thread(_connections, rabbit_cluster, cluster_vhost)
            finally:
                for relay in stack.relays:
                    relay.kill()
        names = {_connection_name(c["client_properties"]) for c in connections}
        assert {"notifications-api", "stream-relay"} <= names, connections
        assert all(c["ssl"] for c in connections), connections
        assert stack.ledger.total == 1


async def _connected(tab: Subscriber) -> bool:
    return tab.connects >= 1


async def _received(tab: Subscriber) -> bool:
    return len(tab.received) >= 1


def _connection_name(properties: list[list[str]]) -> str | None:
    """``connection_name`` from rabbitmqctl's JSON client properties ([name, type, value]...)."""
    return next((p[-1] for p in properties if p[0] == "connection_name"), None)


def _connections(cluster: RabbitCluster, vhost: str) -> list[dict]:
    """Every connection to ``vhost`` (cluster-wide): client properties and whether it is TLS."""
    out = cluster.ctl(
        cluster.any_running(),
        "list_connections",
        "vhost",
        "ssl",
        "client_properties",
        "--formatter",
        "json",
    )
    return [c for c in json.loads(out) if c["vhost"] == vhost]

"""The event log on a cluster: replicated as EVENT_LOG_REPLICAS says, reached over TLS."""

from __future__ import annotations

import pytest
from tests.support.cluster import RabbitCluster

from qahub_contracts.amqp_endpoints import BrokerEndpoints, TlsFiles
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE


class TestReplicatedLog:
    """EVENT_LOG_REPLICAS=3 makes a stream with a member on every node."""

    async def test_three_replicas(self, rabbit_cluster: RabbitCluster, cluster_vhost):
        endpoints = BrokerEndpoints(rabbit_cluster.urls(cluster_vhost, [2, 3, 1]).split(","))
        connection = await endpoints.connect_aio_pika(name="topology-test")
        try:
            await declare_topology(connection, "1h", replicas=3)
        finally:
            await connection.close()
        info = rabbit_cluster.queue_info(cluster_vhost, EVENT_LOG_QUEUE)
        assert sorted(info["members"]) == sorted(n.name for n in rabbit_cluster.nodes)
        assert info["leader"] == rabbit_cluster.nodes[1].name  # declared through node 2


class TestTls:
    """Every node's TLS listener wants the test CA's client certificate."""

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

"""The event log on a cluster: replicated as EVENT_LOG_REPLICAS says."""

from __future__ import annotations

import pytest
from tests.support.cluster import RabbitCluster, queue_info

from qahub_contracts.amqp_endpoints import BrokerEndpoints
from qahub_contracts.broker import declare_topology
from qahub_contracts.topology import EVENT_LOG_QUEUE

pytestmark = pytest.mark.cluster


class TestReplicatedLog:
    """EVENT_LOG_REPLICAS=3 makes a stream with a member on every node."""

    async def test_three_replicas(self, rabbit_cluster: RabbitCluster, cluster_vhost):
        endpoints = BrokerEndpoints(rabbit_cluster.urls(cluster_vhost, [2, 3, 1]).split(","))
        connection = await endpoints.connect_aio_pika(name="topology-test")
        try:
            await declare_topology(connection, "1h", replicas=3)
        finally:
            await connection.close()
        info = queue_info(rabbit_cluster, cluster_vhost, EVENT_LOG_QUEUE)
        assert sorted(info["members"]) == sorted(n.name for n in rabbit_cluster.nodes)
        assert info["leader"] == rabbit_cluster.nodes[1].name  # declared through node 2

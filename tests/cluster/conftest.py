"""The cluster scenarios' fixtures: one private 3-node RabbitMQ cluster per test session.

Every test module here sets ``pytestmark = pytest.mark.cluster``; ``make test``
runs them in the serial pass (with ``broker_restart``), so one cluster serves them
all, in one process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.reliability.conftest import report
from tests.support.cluster import RabbitCluster, add_vhost, delete_vhost, rabbitmq_available
from tests.support.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA made for this run, with a server and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RabbitCluster]:
    """Three RabbitMQ nodes on loopback ports, joined; stopped and deleted at the end."""
    if not rabbitmq_available():
        pytest.skip("RabbitMQ is not installed on this machine (/usr/lib/rabbitmq/bin)")
    cluster = RabbitCluster(tmp_path_factory.mktemp("rabbit-cluster"), pki)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_vhost(rabbit_cluster: RabbitCluster) -> Iterator[str]:
    """A fresh vhost on the cluster that only this test uses (every node restarted first)."""
    for node in rabbit_cluster.nodes:
        if not node.running:
            rabbit_cluster.restart(node)
    vhost = f"qahub-cluster-{uuid.uuid4().hex[:10]}"
    add_vhost(rabbit_cluster, vhost)
    yield vhost
    delete_vhost(rabbit_cluster, vhost)


__all__ = ["report"]

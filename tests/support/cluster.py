"""A private 3-node RabbitMQ cluster on this machine, for the cluster scenarios (DESIGN §12).

Each node has its own name (``rabbit-qa<N>-<tag>@localhost``), AMQP, AMQPS and
distribution ports, data and log directories under one temporary directory,
and an Erlang cookie of its own (``$HOME/.erlang.cookie`` of a private home):
the shared node ``rabbit@localhost`` on 5672 cannot even be reached with it.
The first node boots alone; the others join it at boot (classic peer
discovery), which is faster than ``stop_app`` / ``join_cluster`` / ``start_app``.
Every node also listens for TLS with the test CA, requiring a client
certificate. :meth:`RabbitCluster.stop` ends every node we started (by PID) and
deletes the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.pki import Pki
from tests.support.servers import free_port

_SBIN = Path("/usr/lib/rabbitmq/bin")
SHARED_NODE_PORT = 5672
_LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"  # Erlang distribution: loopback


def rabbitmq_available() -> bool:
    """Whether this machine can run private RabbitMQ nodes."""
    return (_SBIN / "rabbitmq-server").exists()


@dataclass
class Node:
    index: int
    name: str
    amqp_port: int
    amqps_port: int
    dist_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, vhost: str = "/", *, tls: bool = False) -> str:
        path = "%2F" if vhost == "/" else vhost
        if tls:
            return f"amqps://guest:guest@127.0.0.1:{self.amqps_port}/{path}"
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{path}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class RabbitCluster:
    """Three RabbitMQ 3.10 nodes joined into one cluster, each with a TLS listener."""

    def __init__(self, base: Path, pki: Pki, size: int = 3) -> None:
        self.base = base
        self.pki = pki
        self.home = base / "home"
        tag = secrets.token_hex(3)
        self.nodes = [
            Node(
                i,
                f"rabbit-qa{i}-{tag}@localhost",
                free_port(),
                free_port(),
                free_port(),
                base / f"node{i}",
            )
            for i in range(1, size + 1)
        ]
        for node in self.nodes:
            if node.name.startswith("rabbit@") or SHARED_NODE_PORT in (
                node.amqp_port,
                node.amqps_port,
            ):
                raise RuntimeError("refusing to touch the shared RabbitMQ node")

    # -- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Boot the first node, then the others in parallel (they join it at boot)."""
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        first, *others = self.nodes
        _write_config(first, self.pki, peers=[])
        self._spawn(first)
        self.await_startup(first, timeout)
        for node in others:
            _write_config(node, self.pki, peers=[first])
            self._spawn(node)
        for node in others:
            self.await_startup(node, timeout)
        self.wait_running(timeout)

    def stop(self) -> None:
        """SIGTERM every node we started, SIGKILL what is left after 20 s; delete the files."""
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(20)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)

    def kill(self, node: Node) -> None:
        """SIGKILL the node's Erlang VM: no shutdown of any kind."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)

    def restart(self, node: Node, timeout: float = 90) -> None:
        """Start a stopped node again on its data directory; it rejoins the cluster."""
        assert not node.running
        self._spawn(node)
        self.await_startup(node, timeout)
        self.wait_running(timeout)

    def _spawn(self, node: Node) -> None:
        with (node.directory / "server.out").open("ab") as out:
            node.process = subprocess.Popen(
                [str(_SBIN / "rabbitmq-server")],
                env=_environment(self.home, self.base, node),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.directory,
                start_new_session=True,  # a Ctrl-C of the test run is not the node's
            )

    # -- rabbitmqctl ----------------------------------------------------------------------

    def ctl(self, node: Node, *args: str, timeout: float = 60) -> str:
        """``rabbitmqctl -n <node> ARGS``; its output (raises when it fails)."""
        result = subprocess.run(
            [str(_SBIN / "rabbitmqctl"), "-q", "-n", node.name, *args],
            env=_environment(self.home, self.base),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            msg = f"rabbitmqctl {' '.join(args)} on {node.name}: {result.stderr.decode()[-500:]}"
            raise RuntimeError(msg)
        return result.stdout.decode()

    def await_startup(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not node.running:
                log = (node.directory / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{node.name} exited while booting:\n{log}")
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.ctl(node, "await_startup", "--timeout", "10", timeout=15)
                pid = int((node.directory / "pid").read_text())
                assert node.process is not None
                if pid != node.process.pid:
                    raise AssertionError(f"{node.name} runs as {pid}, not as our child")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} did not boot within {timeout}s")
            time.sleep(0.2)

    def running_nodes(self, via: Node) -> list[str]:
        status = json.loads(self.ctl(via, "cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def wait_running(self, timeout: float) -> None:
        """Until every started node sees every running node as a cluster member."""
        expected = sorted(n.name for n in self.nodes if n.running)
        deadline = time.monotonic() + timeout
        while True:
            seen = [self.running_nodes(n) for n in self.nodes if n.running]
            if all(s == expected for s in seen):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not form: expected {expected}, saw {seen}")
            time.sleep(0.5)

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def any_running(self) -> Node:
        return next(n for n in self.nodes if n.running)

    def urls(self, vhost: str, order: list[int] | None = None, *, tls: bool = False) -> str:
        """``RABBITMQ_URL`` naming the nodes (indexes from 1) in ``order``."""
        picked = [self.nodes[i - 1] for i in order] if order else self.nodes
        return ",".join(n.url(vhost, tls=tls) for n in picked)


def add_vhost(cluster: RabbitCluster, vhost: str) -> None:
    via = cluster.any_running()
    cluster.ctl(via, "add_vhost", vhost)
    cluster.ctl(via, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


def delete_vhost(cluster: RabbitCluster, vhost: str) -> None:
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        cluster.ctl(cluster.any_running(), "delete_vhost", vhost)


def queue_info(cluster: RabbitCluster, vhost: str, queue: str) -> dict[str, Any]:
    """``name``, ``leader``, ``members`` and ``online`` of one queue."""
    out = cluster.ctl(
        cluster.any_running(),
        "list_queues",
        "-p",
        vhost,
        "name",
        "leader",
        "members",
        "online",
        "--formatter",
        "json",
    )
    for row in json.loads(out):
        if row["name"] == queue:
            return dict(row)
    raise LookupError(f"no queue {queue} in {vhost}")


def _write_config(node: Node, pki: Pki, peers: list[Node]) -> None:
    """The node's rabbitmq.conf (listeners, TLS, peers to join), plugins and env files."""
    node.directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}",
        f"listeners.ssl.default = 127.0.0.1:{node.amqps_port}",
        "loopback_users = none",
        f"ssl_options.cacertfile = {pki.ca}",
        f"ssl_options.certfile = {pki.server_cert}",
        f"ssl_options.keyfile = {pki.server_key}",
        "ssl_options.verify = verify_peer",
        "ssl_options.fail_if_no_peer_cert = true",
        "log.console = false",
        "log.file.level = info",
    ]
    if peers:
        lines.append("cluster_formation.peer_discovery_backend = classic_config")
        lines += [
            f"cluster_formation.classic_config.nodes.{i} = {p.name}" for i, p in enumerate(peers, 1)
        ]
    (node.directory / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
    (node.directory / "enabled_plugins").write_text("[].\n")
    (node.directory / "rabbitmq-env.conf").write_text("")


def _environment(home: Path, base: Path, node: Node | None = None) -> dict[str, str]:
    """What rabbitmq-server (with ``node``) or rabbitmqctl (without) runs with."""
    env = {
        **os.environ,
        "HOME": str(home),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_CONF_ENV_FILE": str(base / "no-env.conf"),
    }
    if node is not None:
        d = node.directory
        env |= {
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _LOOPBACK_DIST,
            # The start script then execs the Erlang VM instead of waiting on it as
            # a child: our process IS the node, so a SIGKILL of it kills the node.
            "RUNNING_UNDER_SYSTEMD": "true",
        }
    return env

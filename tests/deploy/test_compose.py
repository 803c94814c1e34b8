"""docker-compose.yml, checked statically (no Docker engine here).

What a `docker compose up` would trip over is checked against the code itself:
every variable a service gets is one its settings class reads and accepts, and
the broker's definitions leave the event log to the services, which declare it
with the replicas compose asks for. The gateway and the Dockerfile have their
own modules (test_gateway.py, test_dockerfile.py).
"""

from __future__ import annotations

import json

import pytest
from tests.deploy.compose import (
    APP_SERVICES,
    BROKER_NODES,
    PORTS_OVERRIDE,
    RELAYS,
    SERVICES,
    environment,
    interpolated,
)
from tests.deploy.nginx_conf import SERVER, route, setting
from tests.support.servers import ROOT

from qahub_contracts.amqp_endpoints import parse_urls
from qahub_contracts.topology import EXCHANGE


class TestComposeServices:
    """The stack the issue asks for, each part with a health check."""

    def test_every_service_is_there(self):
        expected = {*BROKER_NODES, "postgres", "notifications-api", *RELAYS, "gateway"}
        assert set(SERVICES) == expected

    def test_only_the_extra_broker_nodes_are_in_a_profile(self):
        profiles = {name: s["profiles"] for name, s in SERVICES.items() if "profiles" in s}
        assert profiles == {"rabbitmq-2": ["cluster"], "rabbitmq-3": ["cluster"]}

    def test_every_service_has_a_healthcheck(self):
        for name, service in SERVICES.items():
            check = service.get("healthcheck", {})
            assert check.get("test"), f"{name} has no healthcheck"
            assert check["test"][0] in {"CMD", "CMD-SHELL"}, name

    def test_app_services_run_the_one_image_and_listen_where_they_are_checked(self):
        for name in APP_SERVICES:
            service = SERVICES[name]
            assert service["build"] == "."
            command = service["command"]
            assert command[:2] == ["qahub-notify", "relay" if name in RELAYS else "api"]
            port = command[command.index("--port") + 1]
            assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - in its container
            assert service["expose"] == [port]
            assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])

    def test_no_host_port_is_published_so_copies_run_side_by_side(self):
        assert [name for name, s in SERVICES.items() if "ports" in s] == []
        assert "8080" in SERVICES["gateway"]["expose"]
        assert any(d.args == ["8080"] for d in SERVER.all("listen"))

    def test_the_ports_override_publishes_the_gateway_and_a_loopback_broker(self):
        overridden = PORTS_OVERRIDE["services"]
        assert set(overridden) == {"gateway", "rabbitmq"}
        assert all(set(service) == {"ports"} for service in overridden.values())
        assert all(p.startswith("127.0.0.1:") for p in overridden["rabbitmq"]["ports"])
        assert [interpolated(p) for p in overridden["gateway"]["ports"]] == ["8080:8080"]

    def test_start_order_waits_for_healthy_dependencies(self):
        api = SERVICES["notifications-api"]["depends_on"]
        assert {n: d["condition"] for n, d in api.items()} == {
            **dict.fromkeys(BROKER_NODES, "service_healthy"),
            "postgres": "service_healthy",
        }
        gateway = SERVICES["gateway"]["depends_on"]
        assert all(gateway[n]["condition"] == "service_healthy" for n in APP_SERVICES)


class TestEnvironment:
    """Every variable given to a service is one its settings class reads, and accepts."""

    @pytest.mark.parametrize("service", sorted(APP_SERVICES))
    def test_variables_exist_in_the_settings_class(self, service: str):
        fields = {name.upper() for name in APP_SERVICES[service].model_fields}
        assert set(environment(service)) <= fields, set(environment(service)) - fields

    @pytest.mark.parametrize("service", sorted(APP_SERVICES))
    def test_values_pass_the_settings_validation(self, service: str):
        values = {name.lower(): value for name, value in environment(service).items()}
        settings = APP_SERVICES[service](**values)
        assert settings.broker_endpoints.urls[0].endswith("@rabbitmq:5672/")

    def test_the_api_uses_postgres_with_the_composed_credentials(self):
        url = environment("notifications-api")["DATABASE_URL"]
        postgres = SERVICES["postgres"]["environment"]
        user, password, db = (
            postgres[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
        )
        assert url == f"postgresql+asyncpg://{user}:{password}@postgres:5432/{db}"

    def test_relays_fetch_snapshots_from_the_api_and_share_its_secret_and_retention(self):
        api = environment("notifications-api")
        for relay in RELAYS:
            env = environment(relay)
            assert env["NOTIFICATIONS_API_URL"] == "http://notifications-api:8000"
            for shared in ("JWT_SECRET", "RABBITMQ_URL", "EVENT_LOG_MAX_AGE", "EVENT_LOG_REPLICAS"):
                assert env[shared] == api[shared], shared

    def test_the_gateway_body_limit_matches_the_api(self):
        limit = int(environment("notifications-api")["MAX_BODY_BYTES"])
        assert (
            setting(route("/api/v1/notifications"), "client_max_body_size") == f"{limit // 1024}k"
        )


class TestBroker:
    """RabbitMQ starts with the user and the exchange; the services declare the event log."""

    DEFINITIONS = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())

    def test_the_event_log_is_left_to_the_services(self):
        # Declared at the first node's boot, before the cluster profile's nodes join, the
        # stream would get one replica; the services declare it with EVENT_LOG_REPLICAS.
        assert self.DEFINITIONS["queues"] == []
        assert self.DEFINITIONS["bindings"] == []

    def test_the_exchange_matches_the_topology(self):
        (exchange,) = self.DEFINITIONS["exchanges"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (
            EXCHANGE,
            "topic",
            True,
        )

    def test_the_configured_user_can_reach_what_the_services_use(self):
        for url in parse_urls(environment("notifications-api")["RABBITMQ_URL"]):
            user = url.split("//")[1].split(":")[0]
            assert any(u["name"] == user for u in self.DEFINITIONS["users"])
            assert any(
                p["user"] == user and p["vhost"] == "/" for p in self.DEFINITIONS["permissions"]
            )

    def test_the_config_loads_the_definitions_mounted_by_compose(self):
        conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
        assert "load_definitions = /etc/rabbitmq/definitions.json" in conf
        mounts = " ".join(SERVICES["rabbitmq"]["volumes"])
        assert "deploy/rabbitmq/definitions.json:/etc/rabbitmq/definitions.json" in mounts
        assert SERVICES["rabbitmq"]["image"].startswith("rabbitmq:3.")


class TestClusterProfile:
    """`--profile cluster`: three nodes, one cluster, the log on all three, fail-over."""

    MEMBER_CONF = (ROOT / "deploy" / "rabbitmq" / "cluster-member.conf").read_text()

    def test_three_nodes_of_one_image_with_one_cookie_and_their_own_data(self):
        nodes = [SERVICES[n] for n in BROKER_NODES]
        assert len({n["image"] for n in nodes}) == 1
        cookies = {interpolated(n["environment"]["RABBITMQ_ERLANG_COOKIE"]) for n in nodes}
        assert len(cookies) == 1
        assert cookies != {""}
        assert [n["hostname"] for n in nodes] == list(BROKER_NODES)
        data = [v for n in nodes for v in n["volumes"] if v.endswith(":/var/lib/rabbitmq")]
        assert len(set(data)) == 3

    def test_the_other_nodes_join_the_first_after_it_is_healthy(self):
        assert "cluster_formation.peer_discovery_backend = classic_config" in self.MEMBER_CONF
        assert "cluster_formation.classic_config.nodes.1 = rabbit@rabbitmq" in self.MEMBER_CONF
        for name in BROKER_NODES[1:]:
            node = SERVICES[name]
            assert node["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}
            mounts = " ".join(node["volumes"])
            assert "deploy/rabbitmq/cluster-member.conf:/etc/rabbitmq/rabbitmq.conf" in mounts

    @pytest.mark.parametrize("service", sorted(APP_SERVICES))
    def test_every_service_lists_every_node_and_waits_for_those_running(self, service: str):
        urls = parse_urls(environment(service)["RABBITMQ_URL"])
        assert [url.split("@")[1] for url in urls] == [f"{n}:5672/" for n in BROKER_NODES]
        assert environment(service)["EVENT_LOG_REPLICAS"] == str(len(BROKER_NODES))
        depends = SERVICES[service]["depends_on"]
        assert depends["rabbitmq"] == {"condition": "service_healthy"}
        for name in BROKER_NODES[1:]:  # required: false: absent without the profile
            assert depends[name] == {"condition": "service_healthy", "required": False}

"""docker-compose.yml, the Dockerfile and the gateway, checked statically (no Docker engine here).

What a `docker compose up` would trip over is checked against the code itself:
every variable a service gets is one its settings class reads and accepts, the
gateway routes exactly the paths `qahub-notify dev` sends to the relays, and the
broker's pre-declared stream has the arguments the services declare.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.servers import ROOT

from notifications_api.settings import ApiSettings
from qahub_contracts.amqp_endpoints import parse_urls
from qahub_contracts.topology import EXCHANGE
from qahub_notify.single_origin import is_relay_path
from stream_relay.settings import RelaySettings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PORTS_OVERRIDE = yaml.safe_load((ROOT / "docker-compose.ports.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
RELAYS = ("stream-relay-1", "stream-relay-2")
BROKER_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")  # the last two: the cluster profile
APP_SERVICES = {"notifications-api": ApiSettings, **dict.fromkeys(RELAYS, RelaySettings)}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolated(value: object) -> str:
    """A compose value as `docker compose` sees it with none of its variables set."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: use the mapping form of environment"
    return {name: interpolated(value) for name, value in env.items()}


# ---- nginx.conf, parsed just enough to follow its routing ----------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive:
        (found,) = self.all(name)
        return found

    def value(self, name: str) -> str | None:
        found = self.all(name)
        return " ".join(found[-1].args) if found else None


@dataclass
class Location:
    modifier: str
    path: str
    directives: Directive = field(repr=False)

    def matches(self, uri: str) -> bool:
        return uri == self.path if self.modifier == "=" else uri.startswith(self.path)


def parse_nginx(text: str) -> Directive:
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    root = Directive("main", [], [])
    stack = [root]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif token == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))  # type: ignore[union-attr]
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip("'\""))
    assert len(stack) == 1, "unbalanced braces in nginx.conf"
    return root


NGINX = parse_nginx((ROOT / "deploy" / "nginx.conf").read_text())
HTTP = NGINX.one("http")
SERVER = HTTP.one("server")
LOCATIONS = [
    Location(*(d.args if len(d.args) == 2 else ["", d.args[0]]), directives=d)
    for d in SERVER.all("location")
]


def route(uri: str) -> Location:
    """nginx's choice for ``uri``: an exact match, else the longest prefix."""
    exact = [loc for loc in LOCATIONS if loc.modifier == "=" and loc.matches(uri)]
    if exact:
        return exact[0]
    prefixes = [loc for loc in LOCATIONS if loc.modifier == "" and loc.matches(uri)]
    return max(prefixes, key=lambda loc: len(loc.path))


def upstream_servers(name: str) -> list[str]:
    (upstream,) = [u for u in HTTP.all("upstream") if u.args == [name]]
    return [d.args[0] for d in upstream.all("server")]


def setting(location: Location, name: str) -> str | None:
    """A directive as in effect in ``location`` (its own, else the server's, else http's)."""
    for scope in (location.directives, SERVER, HTTP):
        if (value := scope.value(name)) is not None:
            return value
    return None


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


class TestGateway:
    """nginx sends the stream and the demo page to the relays, the rest to the API."""

    PATHS = (
        "/",
        "/static/app.css",
        "/api/v1/notifications/stream",
        "/api/v1/notifications/stream/connections",
        "/api/v1/notifications",
        "/api/v1/notifications/stats",
        "/api/v1/notifications/0b9c/read",
        "/healthz",
        "/readyz",
        "/metrics",
    )

    @pytest.mark.parametrize("path", PATHS)
    def test_routes_like_qahub_notify_dev(self, path: str):
        relay = is_relay_path(path)
        expected = "http://stream_relays" if relay else "http://notifications_api"
        assert setting(route(path), "proxy_pass") == expected

    def test_both_relays_are_upstreams_and_the_api_is_the_other(self):
        assert upstream_servers("stream_relays") == [f"{r}:8001" for r in RELAYS]
        assert upstream_servers("notifications_api") == ["notifications-api:8000"]

    def test_the_stream_is_sse_safe(self):
        stream = route("/api/v1/notifications/stream")
        assert setting(stream, "proxy_buffering") == "off"
        assert setting(stream, "proxy_cache") == "off"
        assert setting(stream, "gzip") == "off"
        assert setting(stream, "proxy_http_version") == "1.1"
        read_timeout = setting(stream, "proxy_read_timeout") or "60s"
        heartbeat = float(environment("stream-relay-1")["SSE_HEARTBEAT_SECONDS"])
        assert int(read_timeout.removesuffix("s")) >= 10 * heartbeat

    def test_no_log_line_can_carry_a_token(self):
        (log_format,) = HTTP.all("log_format")
        fields = " ".join(log_format.args[1:])
        assert not re.search(r"\$(request|request_uri|args|arg_token|query_string)\b", fields)
        assert HTTP.value("access_log") == f"/dev/stdout {log_format.args[0]}"
        assert NGINX.value("error_log") == "/dev/stderr crit"

    def test_the_compose_mount_is_this_file(self):
        assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["gateway"]["volumes"]


class TestDockerfile:
    """Multi-stage, no dev tools, a non-root user, a health check; the ignore file keeps it lean."""

    TEXT = (ROOT / "Dockerfile").read_text()

    def instructions(self, name: str) -> list[str]:
        lines = re.sub(r"\\\n", " ", self.TEXT).splitlines()
        return [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith(name + " ")]

    def test_multi_stage_from_the_lock_file_without_dev_tools(self):
        assert len(self.instructions("FROM")) >= 2
        syncs = [r for r in self.instructions("RUN") if "uv sync" in r]
        assert syncs
        assert all("--frozen" in r and "--no-dev" in r for r in syncs)

    def test_runs_as_a_non_root_user_with_a_healthcheck(self):
        final_stage = self.TEXT.rsplit("\nFROM ", 1)[1]
        users = [ln.split()[1] for ln in final_stage.splitlines() if ln.startswith("USER ")]
        assert users
        assert users[-1] not in {"root", "0"}
        (healthcheck,) = self.instructions("HEALTHCHECK")
        command = json.loads(healthcheck.split(" CMD ", 1)[1])
        assert command == ["python", "-m", "qahub_notify.healthcheck"]
        assert "HEALTHCHECK" in final_stage

    def test_oci_labels_name_the_image_and_its_version(self):
        final_stage = self.TEXT.rsplit("\nFROM ", 1)[1]
        labels = dict(re.findall(r"(org\.opencontainers\.image\.\w+)=\"([^\"]*)\"", final_stage))
        prefix = "org.opencontainers.image."
        assert {
            f"{prefix}{k}" for k in ("title", "description", "version", "revision", "created")
        } <= set(labels)
        assert labels[f"{prefix}version"] == "${VERSION}"
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert f"ARG VERSION={project['version']}" in final_stage

    def test_default_command_is_the_api(self):
        (cmd,) = self.instructions("CMD")
        assert json.loads(cmd)[:2] == ["qahub-notify", "api"]

    def test_dockerignore_keeps_the_environment_and_history_out(self):
        ignored = (ROOT / ".dockerignore").read_text().split()
        assert {".git", ".venv", "tests"} <= set(ignored)

    def test_every_copied_path_exists(self):
        for copy in self.instructions("COPY"):
            if "--from=" in copy:
                continue
            for source in copy.split()[:-1]:
                assert (ROOT / source).exists(), source


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv builds the wheel")
def test_the_demo_page_ships_in_the_relay_wheel(tmp_path: Path):
    """The image installs wheels, not the checkout: the page must be package data."""
    subprocess.run(
        ["uv", "build", "--package", "stream-relay", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("stream_relay-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("index.html", "demo.js", "demo.css", "qahub-notifications.js"):
        assert f"stream_relay/static/{name}" in names

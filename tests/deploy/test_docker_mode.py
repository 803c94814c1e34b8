"""The testing kit's docker mode and the image's health check agree with docker-compose.yml.

Docker mode cannot run here (no engine), so what it would start is compared, statically,
with what compose starts: same images, network names, commands and variables, waiting on
the endpoint compose's health checks ask. Only the stack's own secret and SQLite differ.
"""

from __future__ import annotations

import json

import pytest
from tests.deploy.compose import APP_SERVICES, SERVICES, environment

from qahub_notify.healthcheck import readiness_url
from qahub_notify.testing._docker import DEFAULT_IMAGE, container_specs

SECRET = "s" * 48
SPECS = {spec.alias: spec for spec in container_specs(DEFAULT_IMAGE, SECRET)}
APPS = [alias for alias in SPECS if alias != "rabbitmq"]
OWN = {"JWT_SECRET", "DATABASE_URL"}  # a secret per stack; SQLite inside the API's container
# Docker mode runs one broker node: compose's first; the cluster profile's are not there.
CLUSTER = {"RABBITMQ_URL", "EVENT_LOG_REPLICAS"}


def health_url(service: str) -> str:
    """The URL compose's health check of ``service`` asks (``http://127.0.0.1:PORT/readyz``)."""
    test = " ".join(SERVICES[service]["healthcheck"]["test"])
    (url,) = [w.strip("'\")(,") for w in test.split("'") if w.startswith("http://")]
    return url


class TestDockerModeMatchesCompose:
    """Each container of docker mode is one of compose's services, set up the same way."""

    def test_the_containers_are_the_broker_the_api_and_a_relay(self):
        assert set(SPECS) == {"rabbitmq", "notifications-api", "stream-relay-1"}
        assert set(APPS) <= set(APP_SERVICES)
        assert SPECS["rabbitmq"].image == SERVICES["rabbitmq"]["image"]
        assert all(SPECS[a].image == SERVICES[a]["image"] == DEFAULT_IMAGE for a in APPS)

    @pytest.mark.parametrize("alias", APPS)
    def test_same_command(self, alias: str):
        assert list(SPECS[alias].command) == SERVICES[alias]["command"]

    @pytest.mark.parametrize("alias", APPS)
    def test_same_variables_and_values_but_the_stacks_own(self, alias: str):
        spec, composed = dict(SPECS[alias].environment), environment(alias)
        assert set(spec) == set(composed) - {"EVENT_LOG_REPLICAS"}
        assert {k: v for k, v in spec.items() if k not in OWN | CLUSTER} == {
            k: v for k, v in composed.items() if k not in OWN | CLUSTER
        }
        assert spec["JWT_SECRET"] == SECRET
        assert spec["RABBITMQ_URL"] == composed["RABBITMQ_URL"].split(",")[0]

    @pytest.mark.parametrize("alias", APPS)
    def test_waits_for_what_compose_checks(self, alias: str):
        spec = SPECS[alias]
        assert f"http://127.0.0.1:{spec.port}{spec.ready_path}" == health_url(alias)

    def test_the_broker_is_ready_when_compose_says_healthy(self):
        assert ["CMD", *SPECS["rabbitmq"].ready_command] == SERVICES["rabbitmq"]["healthcheck"][
            "test"
        ]


class TestImageHealthcheck:
    """The image's one check asks the /readyz of whichever service its container runs."""

    @pytest.mark.parametrize("service", sorted(APP_SERVICES))
    def test_each_composed_service_is_checked_where_compose_checks_it(self, service: str):
        assert readiness_url(SERVICES[service]["command"]) == health_url(service)

    def test_the_default_command_is_the_api(self):
        from tests.deploy.test_dockerfile import TestDockerfile  # noqa: PLC0415

        (cmd,) = TestDockerfile().instructions("CMD")
        assert readiness_url(json.loads(cmd)) == "http://127.0.0.1:8000/readyz"

    @pytest.mark.parametrize(
        ("argv", "url"),
        [
            (["/app/.venv/bin/qahub-notify", "relay"], "http://127.0.0.1:8001/readyz"),
            (["qahub-notify", "relay", "--port=9001"], "http://127.0.0.1:9001/readyz"),
            (["qahub-notify", "dev"], "http://127.0.0.1:3001/readyz"),
            (["python", "-m", "stream_relay", "--port", "8005"], "http://127.0.0.1:8005/readyz"),
            (["python", "-m", "qahub_notify.cli", "api"], "http://127.0.0.1:8000/readyz"),
            (["qahub-notify", "api", "--host", "10.0.0.5"], "http://10.0.0.5:8000/readyz"),
            (["qahub-notify", "token", "--sub", "1"], None),
            (["/bin/sh"], None),
            ([], None),
        ],
    )
    def test_finds_the_service_and_its_port(self, argv: list[str], url: str | None):
        assert readiness_url(argv) == url

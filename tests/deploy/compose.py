"""docker-compose.yml and its ports override, read as `docker compose` reads them.

The deploy tests check what each service gets (``environment``) against the code
that will read it; ``interpolated`` resolves ``${VAR:-default}`` with nothing set.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from tests.support.servers import ROOT

from notifications_api.settings import ApiSettings
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

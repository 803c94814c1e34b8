"""The package's surface: a sorted flat ``__all__``, and no server stack in its imports."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import qahub_notify_client

SERVER_ONLY = ("aio_pika", "pydantic_settings", "cachetools", "jwt", "fastapi", "sqlalchemy")


class TestExports:
    """Everything public is importable from the top, listed once, sorted."""

    def test_all_is_sorted(self):
        assert qahub_notify_client.__all__ == sorted(qahub_notify_client.__all__)

    @pytest.mark.parametrize("name", qahub_notify_client.__all__)
    def test_each_name_resolves(self, name):
        assert getattr(qahub_notify_client, name) is not None

    def test_unknown_names_raise_attribute_error(self):
        with pytest.raises(AttributeError):
            _ = qahub_notify_client.NoSuchThing  # type: ignore[attr-defined]


class TestLightweight:
    """A service installs the client and the models without the servers' stack."""

    def test_importing_client_and_models_loads_no_server_module(self):
        code = (
            "import sys, qahub_notify_client, qahub_contracts, qahub_contracts.commands\n"
            "from qahub_notify_client import NotificationsClient, AsyncNotificationsClient\n"
            f"print(sorted(m for m in {SERVER_ONLY!r} if m in sys.modules))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert result.stdout.strip() == "[]"

    def test_without_the_commands_extra_the_error_names_it(self):
        code = (
            "import sys; sys.modules['aio_pika'] = None\n"
            "import qahub_notify_client\n"
            "try:\n"
            "    qahub_notify_client.CommandSender\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert "qahub-notify-client[commands]" in result.stdout

    def test_the_commands_extra_needs_aio_pika_and_nothing_else_of_the_servers(self):
        blocked = tuple(m for m in SERVER_ONLY if m != "aio_pika")
        code = (
            f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            "from qahub_notify_client import CommandSender\n"
            "CommandSender('amqp://a/,amqp://b/', 't').close()\n"
            "print('ok')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert result.stdout.strip() == "ok"

    @pytest.mark.parametrize("distribution", ["qahub-notify-client", "qahub-contracts"])
    def test_server_dependencies_are_extras_only(self, distribution):
        required = importlib.metadata.requires(distribution) or []
        plain = [r for r in required if "extra ==" not in r]
        names = {r.split(">")[0].split("[")[0].split("=")[0].strip().lower() for r in plain}
        assert names.isdisjoint({"aio-pika", "pydantic-settings", "cachetools", "pyjwt"})

    def test_the_client_needs_only_httpx_httpx_sse_and_the_contracts(self):
        required = importlib.metadata.requires("qahub-notify-client") or []
        plain = {r.split(">")[0].strip() for r in required if "extra ==" not in r}
        assert plain == {"qahub-contracts", "httpx", "httpx-sse"}

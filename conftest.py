"""Fixtures every test folder shares: real RabbitMQ and databases (tests/support).

Also the guard on the serial pass: tests marked ``broker_restart`` stop or alarm
the shared RabbitMQ node on 5672 and tests marked ``cluster`` start a private
3-node cluster, so a stray ``pytest`` on a shared machine must not run them.
They run only when ``QAHUB_SERIAL_PASS=1``, which ``make test``'s second,
one-process pass sets; anywhere else they are skipped, saying why.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.support.services", "tests.support.ledger_report"]

_OPT_IN = "QAHUB_SERIAL_PASS"
_HOW = f"run through make test or set {_OPT_IN}=1"
_SERIAL_ONLY = {
    "broker_restart": f"stops the shared broker; {_HOW}",
    "cluster": f"starts the private 3-node RabbitMQ cluster (serial pass); {_HOW}",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the serial pass's tests unless the serial pass asked for them."""
    if os.environ.get(_OPT_IN) == "1":
        return
    for item in items:
        reason = next((r for m, r in _SERIAL_ONLY.items() if item.get_closest_marker(m)), None)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))

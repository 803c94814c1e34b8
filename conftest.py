"""Fixtures every test folder shares: real RabbitMQ and databases (tests/support)."""

pytest_plugins = ["tests.support.services", "tests.support.ledger_report"]

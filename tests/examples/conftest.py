"""The examples run against the same loopback system as the CLI tests."""

from tests.cli.conftest import stack  # noqa: F401 - the fixture, shared

"""The security suite drives the whole system (API + relays) like the system tests."""

from tests.api.conftest import api, settings
from tests.system.conftest import system

__all__ = ["api", "settings", "system"]

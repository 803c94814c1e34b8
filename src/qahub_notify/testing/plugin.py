"""pytest plugin of the testing kit: ``qahub_stack`` and ``qahub_inbox`` (DESIGN §10).

Registered under the ``pytest11`` entry point of ``qahub-notify``, so installing the
package is enough. Loading it registers one option and two fixtures and nothing else:
no stack starts unless a test asks for ``qahub_stack`` (directly or through
``qahub_inbox``). The mode is ``--qahub-mode``, else ``QAHUB_TEST_MODE``, else ``auto``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import cast

import pytest

from qahub_notify.testing import Inbox, Mode, NotificationsStack

__all__ = ["qahub_inbox", "qahub_stack"]

_MODES = ("auto", "local", "docker")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qahub", "QaHub Notifications testing kit")
    group.addoption(
        "--qahub-mode",
        choices=_MODES,
        default=None,
        help="how qahub_stack starts the system: auto (Docker where an engine answers, "
        "else local processes), local or docker; default QAHUB_TEST_MODE, else auto",
    )


@pytest.fixture(scope="session")
def qahub_stack(request: pytest.FixtureRequest) -> Iterator[NotificationsStack]:
    """One running QaHub Notifications for the whole test session, stopped at its end."""
    mode = request.config.getoption("qahub_mode") or os.environ.get("QAHUB_TEST_MODE") or "auto"
    if mode not in _MODES:
        raise pytest.UsageError(f"QAHUB_TEST_MODE must be one of {', '.join(_MODES)}: {mode!r}")
    with NotificationsStack(mode=cast("Mode", mode)) as stack:
        yield stack


@pytest.fixture
def qahub_inbox(qahub_stack: NotificationsStack) -> Iterator[Callable[[str], Inbox]]:
    """Opens a user's inbox: ``qahub_inbox("42")``; every inbox is closed after the test."""
    opened: list[Inbox] = []

    def open_inbox(user: str) -> Inbox:
        inbox = qahub_stack.inbox(user)
        opened.append(inbox)
        return inbox

    yield open_inbox
    for inbox in opened:
        inbox.close()

"""The TypeScript client (clients/typescript), checked with its own Node tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import node


@pytest.fixture(scope="session")
def typescript_package() -> Path:
    return node.typescript_package()

"""The TypeScript client (clients/typescript): its installed Node dependencies.

``make test`` and ``.ci/run`` install them (``npm ci`` from the lock) before pytest runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.support.servers import ROOT

PACKAGE = ROOT / "clients" / "typescript"


@pytest.fixture(scope="session")
def typescript_package() -> Path:
    """clients/typescript with node_modules; skipped outside CI when they are missing."""
    if shutil.which("node") is None or not (PACKAGE / "node_modules").is_dir():
        reason = "the client's Node dependencies are not installed (make test runs npm ci)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return PACKAGE

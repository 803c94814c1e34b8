"""The TypeScript client's folder, for tests that run its Node tools.

``make test`` and ``.ci/run`` install its dependencies (``npm ci`` from the lock) first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.servers import ROOT

TYPESCRIPT_PACKAGE = ROOT / "clients" / "typescript"


def typescript_package() -> Path:
    """clients/typescript with node_modules; the test skips outside CI when they are missing."""
    if shutil.which("node") is None or not (TYPESCRIPT_PACKAGE / "node_modules").is_dir():
        reason = "the client's Node dependencies are not installed (make test runs npm ci)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return TYPESCRIPT_PACKAGE

"""examples/consumer-tests: a QaHub service's suite on the plugin alone passes (local mode)."""

from __future__ import annotations

import pytest
from tests.support.servers import ROOT
from tests.testing.conftest import run_pytest

EXAMPLE = ROOT / "examples" / "consumer-tests"


@pytest.mark.timeout(300)
def test_the_sample_consumer_suite_passes_in_local_mode(broker):
    result = run_pytest(["-q", "--qahub-mode", "local"], EXAMPLE, broker)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout


def test_the_readme_shows_the_example_suite_verbatim():
    """The README's test is tests/test_readme.py of the example, so the run above runs it."""
    snippet = (EXAMPLE / "tests" / "test_readme.py").read_text()
    assert f"```python\n{snippet}```" in (ROOT / "README.md").read_text()

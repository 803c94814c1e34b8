"""examples/consumer-tests: a QaHub service's suite on the plugin alone passes (local mode)."""

from __future__ import annotations

from tests.support.servers import ROOT
from tests.testing.conftest import run_pytest

EXAMPLE = ROOT / "examples" / "consumer-tests"


def test_the_sample_consumer_suite_passes_in_local_mode(broker):
    result = run_pytest(["-q", "--qahub-mode", "local"], EXAMPLE, broker)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout

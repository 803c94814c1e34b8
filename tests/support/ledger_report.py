"""Prints the reliability ledger table at the end of a run (also under pytest-xdist).

Scenarios record rows with the ``report`` fixture as ``user_properties``; the
reports travel from xdist workers to the controller, which prints the table.
"""

from __future__ import annotations

from typing import Any

import pytest

_ROWS: list[list[Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _ROWS.extend(value for name, value in report.user_properties if name == "ledger")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    terminalreporter.section("reliability ledger")
    terminalreporter.write_line(
        f"{'fault':40} {'load':28} sent deliv lost dup unexp reord  recovery"
    )
    for fault, load, sent, delivered, lost, dup, unexp, reord, recovery in _ROWS:
        terminalreporter.write_line(
            f"{fault:40} {load:28} {sent:4} {delivered:5} {lost:4} {dup:3} "
            f"{unexp:5} {reord:5}  {recovery}"
        )

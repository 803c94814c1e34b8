"""The README's code snippets, so that tests run exactly what the README shows."""

from __future__ import annotations

from tests.support.servers import ROOT

README = ROOT / "README.md"


def readme_snippet(section: str, language: str) -> str:
    """The first ``language`` code block of README section ``## section``, verbatim."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    fence = f"```{language}\n"
    begin = text.index(fence, start) + len(fence)
    return text[begin : text.index("```", begin)]

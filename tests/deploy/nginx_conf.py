"""deploy/nginx.conf, parsed just enough to follow the gateway's routing.

``route`` picks a location the way nginx does (exact match, else longest prefix)
and ``setting`` reads a directive as in effect there, so the tests ask the
question a request would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.support.servers import ROOT


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive:
        (found,) = self.all(name)
        return found

    def value(self, name: str) -> str | None:
        found = self.all(name)
        return " ".join(found[-1].args) if found else None


@dataclass
class Location:
    modifier: str
    path: str
    directives: Directive = field(repr=False)

    def matches(self, uri: str) -> bool:
        return uri == self.path if self.modifier == "=" else uri.startswith(self.path)


def parse_nginx(text: str) -> Directive:
    tokens = re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text))
    root = Directive("main", [], [])
    stack = [root]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif token == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))  # type: ignore[union-attr]
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip("'\""))
    assert len(stack) == 1, "unbalanced braces in nginx.conf"
    return root


NGINX = parse_nginx((ROOT / "deploy" / "nginx.conf").read_text())
HTTP = NGINX.one("http")
SERVER = HTTP.one("server")
LOCATIONS = [
    Location(*(d.args if len(d.args) == 2 else ["", d.args[0]]), directives=d)
    for d in SERVER.all("location")
]


def route(uri: str) -> Location:
    """nginx's choice for ``uri``: an exact match, else the longest prefix."""
    exact = [loc for loc in LOCATIONS if loc.modifier == "=" and loc.matches(uri)]
    if exact:
        return exact[0]
    prefixes = [loc for loc in LOCATIONS if loc.modifier == "" and loc.matches(uri)]
    return max(prefixes, key=lambda loc: len(loc.path))


def upstream_servers(name: str) -> list[str]:
    (upstream,) = [u for u in HTTP.all("upstream") if u.args == [name]]
    return [d.args[0] for d in upstream.all("server")]


def setting(location: Location, name: str) -> str | None:
    """A directive as in effect in ``location`` (its own, else the server's, else http's)."""
    for scope in (location.directives, SERVER, HTTP):
        if (value := scope.value(name)) is not None:
            return value
    return None

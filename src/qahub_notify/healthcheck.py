"""``python -m qahub_notify.healthcheck``: the image's health check, right for each service.

One image runs ``qahub-notify api`` (port 8000 unless ``--port``), ``qahub-notify relay``
(8001) or ``qahub-notify dev`` (3001). The check finds the service the container runs
(the first process whose command is one of those, or ``python -m notifications_api`` /
``stream_relay``; ``--pid`` names one) and asks its ``/readyz``: exit 0 when it answers
200, else 1 with one line saying why. Only the standard library: it runs every few
seconds in every container.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

__all__ = ["main", "readiness_url"]

_DEFAULT_PORTS = {"api": 8000, "relay": 8001, "dev": 3001}
_MODULES = {"notifications_api": "api", "stream_relay": "relay"}
_ANY_ADDRESS = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104 - the addresses a service may bind


def readiness_url(argv: list[str]) -> str | None:
    """The ``/readyz`` URL of the service started by ``argv``, or ``None`` if it is none."""
    service, options = _service(argv)
    if service is None:
        return None
    port, host = str(_DEFAULT_PORTS[service]), "127.0.0.1"
    for index, arg in enumerate(options):
        name, _, value = arg.partition("=")
        if not value and index + 1 < len(options):
            value = options[index + 1]
        if name == "--port":
            port = value
        elif name == "--host" and value not in _ANY_ADDRESS:
            host = value
    return f"http://{host}:{port}/readyz"


def _service(argv: list[str]) -> tuple[str | None, list[str]]:
    for index, arg in enumerate(argv[:-1]):
        following = argv[index + 1]
        if Path(arg).name == "qahub-notify" and following in _DEFAULT_PORTS:
            return following, argv[index + 2 :]
        if arg == "-m" and following in _MODULES:
            return _MODULES[following], argv[index + 2 :]
        if arg == "-m" and following == "qahub_notify.cli" and index + 2 < len(argv):
            return _service(["qahub-notify", *argv[index + 2 :]])
    return None, []


def _command_lines(pid: int | None) -> list[list[str]]:
    paths = (
        [Path(f"/proc/{pid}")]
        if pid
        else sorted(
            (p for p in Path("/proc").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
    )
    lines = []
    for path in paths:
        try:
            raw = (path / "cmdline").read_bytes()
        except OSError:
            continue
        lines.append(raw.decode(errors="replace").rstrip("\0").split("\0"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qahub_notify.healthcheck")
    parser.add_argument("--pid", type=int, help="the service's process (default: find it)")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    url = next(filter(None, map(readiness_url, _command_lines(args.pid))), None)
    if url is None:
        print("unhealthy: no qahub-notify api, relay or dev process found", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310 - http only
            status = response.status
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

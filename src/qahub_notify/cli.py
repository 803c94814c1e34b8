"""``qahub-notify``: one console script for every service and tool (DESIGN §2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

__all__ = ["main"]

_COMMANDS = ("api", "relay", "dev", "token", "migrate", "send", "tail")


def _token(argv: list[str]) -> int:
    """Mint an HS256 token signed with ``JWT_SECRET`` and print it."""
    from qahub_contracts.auth import ADMIN_ROLE  # noqa: PLC0415 - per command
    from qahub_notify.tokens import TokenUnavailable, mint_from_environment  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="qahub-notify token", description=_token.__doc__)
    parser.add_argument("--sub", required=True, help="user id the token speaks for")
    parser.add_argument("--scope", help="e.g. notifications:publish for a service token")
    parser.add_argument("--role", choices=[ADMIN_ROLE])
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    args = parser.parse_args(argv)
    if args.ttl <= 0 or not args.sub.strip():
        parser.error("--ttl must be positive and --sub non-empty")
    try:
        token = mint_from_environment(
            args.sub, scope=args.scope, role=args.role, ttl_seconds=args.ttl
        )
    except TokenUnavailable as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _api(argv: list[str]) -> int:
    from notifications_api.__main__ import main  # noqa: PLC0415 - per command

    return main(argv)


def _dev(argv: list[str]) -> int:
    from qahub_notify.dev import main  # noqa: PLC0415 - per command

    return main(argv)


def _migrate(argv: list[str]) -> int:
    from notifications_api.__main__ import migrate  # noqa: PLC0415 - per command

    return migrate(argv)


def _send(argv: list[str]) -> int:
    from qahub_notify.send import main  # noqa: PLC0415 - per command

    return main(argv)


def _tail(argv: list[str]) -> int:
    from qahub_notify.tail import main  # noqa: PLC0415 - per command

    return main(argv)


def _relay(argv: list[str]) -> int:
    from stream_relay.__main__ import main  # noqa: PLC0415 - per command

    code: int = main(argv)
    return code


_HANDLERS: dict[str, Callable[[list[str]], int]] = {
    "api": _api,
    "relay": _relay,
    "dev": _dev,
    "token": _token,
    "migrate": _migrate,
    "send": _send,
    "tail": _tail,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in _HANDLERS:
        print(f"usage: qahub-notify {{{','.join(_COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return _HANDLERS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())

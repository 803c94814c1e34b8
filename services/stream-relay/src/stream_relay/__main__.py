"""``python -m stream_relay [--host 127.0.0.1] [--port 8001]``: one relay instance.

``main(argv)`` is also what ``qahub-notify relay`` calls. A bad setting prints
one line ``config error: VARIABLE: reason`` to stderr and returns 2. On SIGTERM
(or SIGINT) every open stream is ended first, so clients reconnect elsewhere,
then the server and the relay's connections close.
"""

from __future__ import annotations

import argparse
import sys

from qahub_contracts.gc_tuning import tune_gc
from qahub_contracts.logs import configure_logging
from stream_relay.app import create_app
from stream_relay.server import RelayServer, server_config
from stream_relay.settings import ConfigError, load_settings

__all__ = ["main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stream_relay", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one relay until SIGTERM/SIGINT; 0 after a clean stop, 2 on a settings error."""
    args = _arguments(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    level = args.log_level.upper()
    configure_logging(level)
    config = server_config(create_app(settings), host=args.host, port=args.port, level=level)
    tune_gc()
    RelayServer(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

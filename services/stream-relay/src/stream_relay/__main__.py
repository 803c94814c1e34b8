"""``python -m stream_relay [--host 127.0.0.1] [--port 8001]``: one relay instance.

``main(argv)`` is also what ``qahub-notify relay`` calls. A bad setting prints
one line ``config error: VARIABLE: reason`` to stderr and returns 2. On SIGTERM
(or SIGINT) every open stream is ended first, so clients reconnect elsewhere,
then the server and the relay's connections close.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from qahub_contracts.gc_tuning import tune_gc
from stream_relay.app import create_app
from stream_relay.settings import ConfigError, load_settings

__all__ = ["RelayServer", "main"]

_ACCEPT_BACKLOG = 65535


class RelayServer(uvicorn.Server):
    """uvicorn, but streams end before it waits for open connections to finish."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.loaded_app if self.config.loaded else self.config.app
        stop: Callable[[], None] | None = getattr(_fastapi(app), "stop_streams", None)
        if stop is not None:
            stop()
        await super().shutdown(sockets)
        # A clean stop on SIGTERM is a success: exit 0 instead of uvicorn re-raising it.
        self._captured_signals.clear()


def _fastapi(app: object) -> object:
    """The FastAPI app's state under uvicorn's wrappers (or ``None``)."""
    while app is not None and not isinstance(app, FastAPI):
        app = getattr(app, "app", None)
    return app.state if isinstance(app, FastAPI) else None


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
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        access_log=False,  # uvicorn's access log prints query strings (?token=); see AccessLog
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        # A relay that dies sends all its clients here within one `retry:`: a long accept
        # queue (the kernel caps it at net.core.somaxconn) keeps their SYNs from being
        # dropped and retried seconds later.
        backlog=_ACCEPT_BACKLOG,
        lifespan="on",
    )
    tune_gc()
    RelayServer(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

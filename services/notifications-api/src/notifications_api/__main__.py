"""``python -m notifications_api`` / ``qahub-notify api``: run the API with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TypeVar

import uvicorn

from notifications_api.app import create_app
from notifications_api.database import create_engine
from notifications_api.migrations import upgrade
from notifications_api.server import server_config
from notifications_api.settings import ApiSettings, ConfigError, DatabaseSettings, load_settings
from qahub_contracts.gc_tuning import tune_gc
from qahub_contracts.logs import configure_logging

__all__ = ["main", "migrate", "upgrade_database"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qahub-notify api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    return parser


async def upgrade_database(database_url: str) -> None:
    """Apply every pending migration to ``database_url``."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


S = TypeVar("S", bound=DatabaseSettings)


def _prepare(kind: type[S], *, migrate: bool) -> S | int:
    """Settings of ``kind`` with the database migrated, or the exit code of a failure.

    A bad setting or an unreachable database is one line on stderr, never a traceback.
    """
    try:
        settings = load_settings(kind)
        if migrate:
            asyncio.run(upgrade_database(settings.database_url))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"database unreachable: {exc}", file=sys.stderr)
        return 1
    return settings


def migrate(argv: list[str] | None = None) -> int:
    """``qahub-notify migrate``: apply every pending migration to ``DATABASE_URL``."""
    argparse.ArgumentParser(prog="qahub-notify migrate", description=migrate.__doc__).parse_args(
        argv
    )
    configure_logging()
    prepared = _prepare(DatabaseSettings, migrate=True)
    if isinstance(prepared, int):
        return prepared
    print("database is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the API until SIGTERM/SIGINT; returns the process exit code."""
    args = _parser().parse_args(argv)
    configure_logging()
    settings = _prepare(ApiSettings, migrate=not args.no_migrate)
    if isinstance(settings, int):
        return settings
    tune_gc()
    server = uvicorn.Server(server_config(create_app(settings), host=args.host, port=args.port))
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())

"""``qahub-notify dev``: the whole system on one port, ready to try.

The API and one relay run in this process behind one origin (default port
3001), on SQLite by default and the local RabbitMQ. Every DESIGN §2 variable is
honoured; only an unset ``JWT_SECRET`` is generated. Prints the demo URL with a
token and a curl command that sends a notification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import socket
import sys
from urllib.parse import urlsplit

from qahub_contracts.gc_tuning import tune_gc

__all__ = ["main"]

DEMO_USER = "demo"


def _broker_answers(urls: tuple[str, ...]) -> bool:
    """Whether any node of ``RABBITMQ_URL`` accepts a TCP connection."""
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        try:
            with socket.create_connection((parts.hostname or "localhost", port), 2):
                return True
        except OSError:
            continue
    return False


def _banner(base: str, secret: str) -> str:
    from qahub_contracts.auth import PUBLISH_SCOPE, mint_token  # noqa: PLC0415

    user = mint_token(secret, DEMO_USER, ttl_seconds=12 * 3600)
    service = mint_token(secret, "dev-service", scope=PUBLISH_SCOPE, ttl_seconds=12 * 3600)
    body = '{"type":"hello","notifiableType":"user","notifiableId":"demo","data":"Hello from curl"}'
    curl = (
        f"curl -sS -X POST {base}/api/v1/notifications -H 'Content-Type: application/json' "
        f"-H {shlex.quote('Authorization: Bearer ' + service)} -d {shlex.quote(body)}"
    )
    return (
        f"\nQaHub Notifications is running at {base}\n\n"
        f"  Demo inbox (signed in as '{DEMO_USER}'):\n    {base}/?token={user}\n\n"
        f"  Send the demo user a notification:\n    {curl}\n\n"
        "  Stream it in a terminal:\n"
        f"    curl -N '{base}/api/v1/notifications/stream?token={user}'\n\n"
        "Press Ctrl+C to stop.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qahub-notify dev", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args(argv)
    os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("NOTIFICATIONS_API_URL", f"http://127.0.0.1:{args.port}")

    from notifications_api.__main__ import upgrade_database  # noqa: PLC0415
    from notifications_api.app import create_app as create_api  # noqa: PLC0415
    from notifications_api.settings import ApiSettings, ConfigError, load_settings  # noqa: PLC0415
    from stream_relay.app import create_app as create_relay  # noqa: PLC0415
    from stream_relay.settings import ConfigError as RelayConfigError  # noqa: PLC0415
    from stream_relay.settings import load_settings as load_relay_settings  # noqa: PLC0415

    try:
        api_settings = load_settings(ApiSettings)
        relay_settings = load_relay_settings()
    except (ConfigError, RelayConfigError) as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    endpoints = api_settings.broker_endpoints
    if not _broker_answers(endpoints.urls):
        print(
            f"RabbitMQ is not reachable at {endpoints.describe()}: start it "
            "(`docker compose -f docker-compose.yml -f docker-compose.ports.yml up -d rabbitmq`, "
            "or `rabbitmq-server -detached`) or set RABBITMQ_URL",
            file=sys.stderr,
        )
        return 1
    from qahub_contracts.logs import configure_logging  # noqa: PLC0415

    configure_logging()
    asyncio.run(upgrade_database(api_settings.database_url))
    from qahub_notify.single_origin import SingleOrigin  # noqa: PLC0415
    from stream_relay.server import RelayServer, server_config  # noqa: PLC0415

    api, relay = create_api(api_settings), create_relay(relay_settings)
    base = f"http://{args.host}:{args.port}"
    print(_banner(base, os.environ["JWT_SECRET"]), flush=True)
    # The relay's server serves both: JSON 400/431 answers, bounded heads, streams that
    # end with their socket, uvicorn's loggers in the services' format.
    config = server_config(SingleOrigin(api, relay), host=args.host, port=args.port)
    tune_gc()
    # Looked up at shutdown: the relay's lifespan sets state.stop_streams when it starts.
    stop_streams = lambda: relay.state.stop_streams()  # noqa: E731, PLW0108
    RelayServer(config, stop_streams=stop_streams).run()
    return 0

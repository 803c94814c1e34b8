"""``qahub-notify send --to USER --type T DATA``: create one notification from a shell.

Posts to the API (``--api``, else ``NOTIFICATIONS_API_URL``, else
``http://127.0.0.1:8000``) with ``--token`` or a short-lived service token
(``scope=notifications:publish``) signed with ``JWT_SECRET``, through the Python
client (``qahub_notify_client``): timeouts, 429 and 5xx are retried under one
Idempotency-Key (``--idempotency-key``, else a fresh one). ``DATA`` is sent
as a JSON object when it parses as one, otherwise as a string. Prints the
created notification as JSON; exit 0 on 201, 1 when the API refuses or cannot
be reached, 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from qahub_contracts.auth import PUBLISH_SCOPE
from qahub_notify.tokens import TokenUnavailable, mint_from_environment
from qahub_notify_client import NotificationsClient, QaHubError

__all__ = ["main", "parse_data"]

DEFAULT_API_URL = "http://127.0.0.1:8000"
SERVICE_SUBJECT = "qahub-notify-cli"


def parse_data(text: str) -> str | dict[str, Any]:
    """``DATA`` as the API wants it: a JSON object if ``text`` is one, else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qahub-notify send", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--to", required=True, metavar="USER", help="recipient user id")
    parser.add_argument(
        "--type", required=True, dest="type_", metavar="T", help="e.g. invoice.paid"
    )
    parser.add_argument("--api", default=os.environ.get("NOTIFICATIONS_API_URL", DEFAULT_API_URL))
    parser.add_argument("--token", help="bearer token (default: a service token from JWT_SECRET)")
    parser.add_argument("--idempotency-key", help="a retry with the same key creates nothing new")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("data", metavar="DATA", help="a JSON object or a plain string")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Send one notification; returns the process exit code."""
    args = _arguments(argv)
    try:
        token = args.token or mint_from_environment(
            SERVICE_SUBJECT, scope=PUBLISH_SCOPE, ttl_seconds=300
        )
    except TokenUnavailable as exc:
        print(f"config error: {exc} (or pass --token)", file=sys.stderr)
        return 2
    client = NotificationsClient(args.api, token, timeout=args.timeout)
    try:
        created = client.send(args.to, args.type_, parse_data(args.data), args.idempotency_key)
    except QaHubError as exc:
        if exc.status is None:
            print(f"error: the API at {args.api} cannot be reached: {exc}", file=sys.stderr)
        else:
            print(f"error: HTTP {exc.status}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(created.model_dump_json())
    return 0

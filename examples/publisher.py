"""A QaHub service notifies a user: a service token, an Idempotency-Key, retries.

    export JWT_SECRET=...   # or QAHUB_TOKEN=<a token with scope notifications:publish>
    python examples/publisher.py 42 invoice.paid '{"invoice": 1001}' --key invoice-1001-paid

Built on the Python client (``qahub_notify_client``): ``send`` retries a timeout,
a 429 or a 5xx under the same Idempotency-Key, with bounded backoff, and the API
answers the first result again and creates nothing new. So a retried call, or the
same command run twice with ``--key``, notifies the user once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import jwt

from qahub_notify_client import AsyncNotificationsClient


def service_token(name: str = "billing-service", ttl: int = 300) -> str:
    """A token with ``scope=notifications:publish`` (normally issued by your identity provider)."""
    if token := os.environ.get("QAHUB_TOKEN"):
        return token
    now = int(time.time())
    claims = {"sub": name, "scope": "notifications:publish", "iat": now, "exp": now + ttl}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("user")
    parser.add_argument("type")
    parser.add_argument("data", help="a JSON object or a string")
    parser.add_argument("--key", help="Idempotency-Key (default: a fresh uuid)")
    parser.add_argument(
        "--api", default=os.environ.get("NOTIFICATIONS_API_URL", "http://127.0.0.1:8000")
    )
    args = parser.parse_args()
    try:
        data = json.loads(args.data)
    except ValueError:
        data = args.data
    async with AsyncNotificationsClient(args.api, service_token) as client:
        created = await client.send(args.user, args.type, data, idempotency_key=args.key)
    print(created.model_dump_json(indent=2))


if __name__ == "__main__":
    asyncio.run(main())

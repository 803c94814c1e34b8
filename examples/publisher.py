"""A QaHub service notifies a user: a service token, an Idempotency-Key, retries.

    export JWT_SECRET=...   # or QAHUB_TOKEN=<a token with scope notifications:publish>
    python examples/publisher.py 42 invoice.paid '{"invoice": 1001}' --key invoice-1001-paid

Retrying with the same Idempotency-Key is always safe: the API answers the
first result again and creates nothing new, so a timeout or a 503 is simply
retried, with exponential backoff and jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from typing import Any

import httpx
import jwt

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def service_token(name: str = "billing-service", ttl: int = 300) -> str:
    """A token with ``scope=notifications:publish`` (normally issued by your identity provider)."""
    if token := os.environ.get("QAHUB_TOKEN"):
        return token
    now = int(time.time())
    claims = {"sub": name, "scope": "notifications:publish", "iat": now, "exp": now + ttl}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


async def notify(
    http: httpx.AsyncClient,
    user: str,
    type_: str,
    data: str | dict[str, Any],
    *,
    key: str | None = None,
    attempts: int = 5,
) -> dict[str, Any]:
    """Create one notification, retrying transient failures under one Idempotency-Key."""
    body = {"type": type_, "notifiableType": "user", "notifiableId": user, "data": data}
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    for attempt in range(1, attempts + 1):
        try:
            response = await http.post("/api/v1/notifications", json=body, headers=headers)
        except httpx.TransportError:
            if attempt == attempts:
                raise
        else:
            if response.status_code == 201:
                return dict(response.json())
            if response.status_code not in RETRYABLE or attempt == attempts:
                response.raise_for_status()
        await asyncio.sleep(min(10.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
    raise AssertionError("unreachable")


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
    headers = {"Authorization": f"Bearer {service_token()}"}
    async with httpx.AsyncClient(base_url=args.api, headers=headers, timeout=10) as http:
        created = await notify(http, args.user, args.type, data, key=args.key)
    print(json.dumps(created, indent=2))


if __name__ == "__main__":
    asyncio.run(main())

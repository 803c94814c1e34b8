"""What :class:`NotificationsClient` and its asyncio twin share besides their transport.

Both are built from the same options (a token or a callable, where the stream is,
a timeout, how often ``send`` retries) and derive the same values from them; each
twin only opens its own ``httpx`` client over them and sends, blocking or awaited.
What a method sends and how its answer is read is in ``_rest``; the stream is
followed in ``_stream``.
"""

from __future__ import annotations

import httpx

from qahub_notify_client._auth import AsyncToken, BearerAuth
from qahub_notify_client._rest import STREAM, Backoff

__all__ = ["BaseClient"]


class BaseClient:
    """The options both clients are built from; the twins add the transport."""

    def __init__(
        self,
        api_url: str,
        token: AsyncToken,
        *,
        stream_url: str | None,
        timeout: float,
        retries: int,
    ) -> None:
        self._auth = BearerAuth(token)
        # Default: the same origin, as behind `qahub-notify dev` or the compose gateway.
        self._stream_url = (stream_url or api_url).rstrip("/") + STREAM
        self._timeout = timeout
        self._backoff = Backoff(retries=retries)

    def _stream_timeout(self, idle_timeout: float) -> httpx.Timeout:
        """The client's timeout, but a stream silent for ``idle_timeout`` seconds is lost."""
        return httpx.Timeout(self._timeout, read=idle_timeout)

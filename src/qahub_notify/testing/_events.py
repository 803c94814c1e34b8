"""The inbox's reader of one user's stream (private: the seam to the Python client).

Until ``qahub_notify_client`` is part of this installation, :func:`stream_events` reads
``GET /api/v1/notifications/stream`` itself, as the client's ``events()`` does (DESIGN
§10): it reconnects after the server's ``retry:`` with ``Last-Event-ID``, asks for a
fresh token on every connect (a stream ends when its token expires), yields each event
with ``data`` parsed from JSON, and never yields heartbeats. A refusal that retrying
cannot fix (any 4xx but 429) raises :class:`StreamRefused`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamEvent", "StreamRefused", "stream_events"]

STREAM_PATH = "/api/v1/notifications/stream"
_MAX_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event: its name, its id (``None`` for ``connected``/``stats``/``recent``), data."""

    event: str
    id: str | None
    data: Any


class StreamRefused(Exception):
    """The relay refused the stream with a status that retrying will not fix."""


@dataclass
class _Frame:
    """WHATWG event-stream parsing state: fields gathered until a blank line dispatches."""

    event: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None
    last_id: str | None = None  # WHATWG's "last event ID buffer": id-only frames move it too
    retry_seconds: float = 1.0

    def feed(self, line: str) -> StreamEvent | None:
        if not line:
            dispatched = None
            if self.data:
                dispatched = StreamEvent(self.event, self.id, _decoded("\n".join(self.data)))
            self.event, self.data, self.id = "message", [], None
            return dispatched
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        elif name == "id" and "\0" not in value:
            self.id = self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_seconds = int(value) / 1000
        return None


async def stream_events(stream_url: str, token: Callable[[], str]) -> AsyncIterator[StreamEvent]:
    """Every event of the stream at ``stream_url``, across reconnects, until cancelled.

    Raises:
        StreamRefused: the relay answered a 4xx other than 429.
    """
    import httpx  # noqa: PLC0415 - the pytest plugin loads this package: keep that cheap

    url = stream_url.rstrip("/") + STREAM_PATH
    frame = _Frame()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http:
        while True:
            headers = {"Authorization": f"Bearer {token()}"}
            if frame.last_id is not None:
                headers["Last-Event-ID"] = frame.last_id
            try:
                async with http.stream("GET", url, headers=headers) as response:
                    if 400 <= response.status_code < 500 and response.status_code != 429:
                        raise StreamRefused(f"the relay answered {response.status_code}")
                    async for line in response.aiter_lines():
                        if (event := frame.feed(line)) is not None:
                            yield event
            except httpx.TransportError:
                pass  # the relay went away or closed the stream: reconnect below
            frame = _Frame(last_id=frame.last_id, retry_seconds=frame.retry_seconds)
            await asyncio.sleep(min(frame.retry_seconds, _MAX_BACKOFF_SECONDS))


def _decoded(data: str) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return data

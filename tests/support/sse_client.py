"""A test's SSE reader: frames as they are on the wire, and a background stream reader.

Frames are decoded by httpx-sse, the parser the Python client's ``events()`` uses
(the client yields events; a test of the relay's wire format also needs the
heartbeat comments, each frame's own ``id`` and its ``retry:``, which this keeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

__all__ = ["Frame", "SseStream", "parse_frames"]


@dataclass
class Frame:
    """One dispatched SSE event (or a lone comment), as httpx-sse decodes it."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


def _frame(lines: list[str]) -> Frame | None:
    decoder = SSEDecoder()  # one per frame: an id belongs to its own frame only
    for line in lines:
        decoder.decode(line)
    comments = [line[1:].removeprefix(" ") for line in lines if line.startswith(":")]
    sse = decoder.decode("")
    if sse is None:
        return Frame(comments=comments) if comments else None
    return Frame(sse.event, sse.data, sse.id or None, sse.retry, comments)


def parse_frames(text: str) -> tuple[list[Frame], str]:
    """Complete frames in ``text`` and the unparsed rest (feed the rest back with more text)."""
    lines_decoder = SSELineDecoder()
    lines = lines_decoder.decode(text) if text else []
    frames: list[Frame] = []
    block: list[str] = []
    for line in lines:
        if line:
            block.append(line)
            continue
        if (frame := _frame(block)) is not None:
            frames.append(frame)
        block = []
    partial = "".join(lines_decoder.buffer) + ("\r" if lines_decoder.trailing_cr else "")
    rest = "".join(f"{line}\n" for line in block) + partial
    return frames, rest


class SseStream:
    """An open stream read in the background; frames wait in a queue."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.raw = ""
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        buffer = ""
        try:
            async for text in self.response.aiter_text():
                self.raw += text
                frames, buffer = parse_frames(buffer + text)
                for frame in frames:
                    self.frames.put_nowait(frame)
        except (httpx.HTTPError, asyncio.CancelledError):
            pass
        finally:
            self.frames.put_nowait(None)

    async def next(self, timeout: float = 5.0, *, skip_comments: bool = True) -> Frame:
        """The next frame (heartbeats skipped unless asked); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            frame = await asyncio.wait_for(self.frames.get(), max(left, 0.001))
            if frame is None:
                raise EOFError("stream ended")
            if skip_comments and frame.comments and not frame.data:
                continue
            if frame.retry is not None and frame == Frame(retry=frame.retry):
                continue  # a lone `retry:` (sent before a wait): nothing a client dispatches
            return frame

    async def connected(self, timeout: float = 5.0) -> dict[str, Any]:
        """The payload of the next frame, which must be the stream's ``connected``."""
        frame = await self.next(timeout)
        assert frame.event == "connected", frame
        return dict(json.loads(frame.data))

    async def take(self, count: int, timeout: float = 10.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        return [await self.next(deadline - time.monotonic()) for _ in range(count)]

    async def until(self, event: str, timeout: float = 10.0) -> list[Frame]:
        """Every frame up to and including the first ``event`` frame."""
        deadline, seen = time.monotonic() + timeout, []
        while True:
            frame = await self.next(deadline - time.monotonic())
            seen.append(frame)
            if frame.event == event:
                return seen

    async def ended(self, timeout: float = 10.0) -> bool:
        """Wait for the server to end the stream; ``True`` if it did in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(self.frames.get(), deadline - time.monotonic())
            except TimeoutError:
                return False
            if frame is None:
                return True
        return False

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.response.aclose()

"""A test's SSE client: a strict WHATWG frame parser and a background stream reader."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

import httpx

__all__ = ["Frame", "SseStream", "parse_frames"]


@dataclass
class Frame:
    """One dispatched SSE event (or a lone comment), parsed the WHATWG way."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


def parse_frames(text: str) -> tuple[list[Frame], str]:
    """Complete frames in ``text`` and the unparsed rest (a reader's WHATWG parser)."""
    frames: list[Frame] = []
    blocks = re.split(r"(?:\r\n|\r|\n){2}", text)
    rest = blocks.pop()
    for block in blocks:
        frame, data = Frame(), []
        for line in re.split(r"\r\n|\r|\n", block):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "data":
                data.append(value)
            elif name == "event":
                frame.event = value
            elif name == "id":
                frame.id = value
            elif name == "retry":
                frame.retry = int(value)
        frame.data = "\n".join(data)
        frames.append(frame)
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
            return frame

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

"""A test's SSE reader: frames as they are on the wire, and a background stream reader.

Frames are decoded by the small parser below, our own rather than httpx-sse's
private ``_decoders`` module (which may change in any release): the Python client
yields events through httpx-sse's public API, but a test of the relay's wire format
also needs what a client does not dispatch: the heartbeat comments, each frame's
own ``id``, id-only frames and ``retry:``.

The parser follows the WHATWG event-stream rules (HTML §9.2.5-9.2.6): lines end in
CRLF, LF or CR (a CR at the very end of the text may be half of a CRLF, so it waits
for more text); a blank line ends a frame; ``:`` starts a comment; a field is
``name:value`` with one leading space of the value dropped (a line without ``:`` is
a field with an empty value); ``data`` lines join with ``\n``; an ``id`` holding
NUL and a ``retry`` that is not ASCII digits are ignored; unknown fields are
ignored. Unlike a browser, each frame is decoded alone (an ``id`` belongs to its
own frame only) and a frame with no data is kept when it has an event name, an id
or a retry; a frame of comments only becomes a :class:`Frame` with ``comments``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Frame", "SseStream", "parse_frames"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Frame:
    """One SSE frame (or a lone comment) as it was on the wire."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


def _frame(lines: list[str]) -> Frame | None:
    """The frame of one block of non-blank lines (``None`` when it holds nothing)."""
    event, data, comments = "", [], []
    event_id: str | None = None
    retry: int | None = None
    for line in lines:
        if line.startswith(":"):
            comments.append(line[1:].removeprefix(" "))
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    if not event and not data and event_id is None and retry is None:
        return Frame(comments=comments) if comments else None
    return Frame(event or "message", "\n".join(data), event_id, retry, comments)


def parse_frames(text: str) -> tuple[list[Frame], str]:
    """Complete frames in ``text`` and the unparsed rest (feed the rest back with more text)."""
    frames: list[Frame] = []
    block: list[str] = []
    start = 0
    for end in _LINE_END.finditer(text):
        if end.group() == "\r" and end.end() == len(text):
            break  # maybe the first half of a CRLF: keep it for the next text
        line, start = text[start : end.start()], end.end()
        if line:
            block.append(line)
            continue
        if (frame := _frame(block)) is not None:
            frames.append(frame)
        block = []
    rest = "".join(f"{line}\n" for line in block) + text[start:]
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

"""A minimal, cheap load generator's wire: raw-socket SSE streams and a keep-alive POST pool.

No httpx on the hot path: thousands of streams must cost the client little, so a
stream is one ``asyncio.Protocol`` that de-chunks, splits frames on blank lines
and only decodes the ``data`` of ``notification`` events. Every payload the
bench sends carries ``{"seq": unique int, "t": send time (time.time())}``
under the notification's ``data``; a stream records each seq once and counts
repeats as duplicates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Self

import orjson

EVENT = b"notification"
RECENT = b"recent"
READY_WAIT_S = 5  # a relay whose API snapshot failed sends no `stats`: bounded wait
UNIT_US = 10  # latency histogram bucket


class SseStream(asyncio.Protocol):
    """One SSE connection; counts frames, heartbeats, seqs and latencies."""

    def __init__(
        self,
        request: bytes,
        hist: dict[int, int] | None,
        *,
        keep_ids: bool = False,
        ready_event: bytes | None = None,
    ) -> None:
        self.request = request
        self.hist = hist
        self.keep_ids = keep_ids
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.retry_after: int | None = None  # seconds, from a refusal's Retry-After
        self._head = self._raw = b""
        self._chunked = False
        self._chunk_left = 0
        self._sse = b""
        self.seqs: set[int] = set()
        self.events = 0
        self.duplicates = 0
        self.heartbeats = 0
        self.frames = 0
        self.last_id: str | None = None
        self.last_arrival = 0.0
        self.max_latency = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.opened = asyncio.get_running_loop().create_future()
        self.event_names: list[str] = []
        self.expect = 0
        self.ready_event = ready_event
        self.initial = asyncio.get_running_loop().create_future()
        self.on_complete: Any = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_result(self.status)
        if not self.closed.done():
            self.closed.set_result(exc)

    def data_received(self, data: bytes) -> None:
        if not self.status:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self._head[:end], self._head[end + 4 :]
            self._head = b""
            self.status = int(head.split(b" ", 2)[1])
            fields = dict(f.split(b": ", 1) for f in head.lower().split(b"\r\n")[1:] if b": " in f)
            self._chunked = fields.get(b"transfer-encoding") == b"chunked"
            self.retry_after = int(fields[b"retry-after"]) if b"retry-after" in fields else None
            if not self.opened.done():
                self.opened.set_result(self.status)
        if self._chunked:
            self._dechunk(data)
        else:
            self._feed(data)

    def _dechunk(self, data: bytes) -> None:
        raw = self._raw + data
        pos = 0
        out: list[bytes] = []
        while pos < len(raw):
            if self._chunk_left < 0:  # the CRLF after a chunk
                skip = min(-self._chunk_left, len(raw) - pos)
                pos += skip
                self._chunk_left += skip
                continue
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(raw) - pos)
                out.append(raw[pos : pos + take])
                pos += take
                self._chunk_left = (self._chunk_left - take) or -2  # then its CRLF
                continue
            eol = raw.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(raw[pos:eol].split(b";", 1)[0], 16)
            pos = eol + 2
            if size == 0:
                break
            self._chunk_left = size
        self._raw = raw[pos:]
        if out:
            self._feed(b"".join(out))

    def _feed(self, data: bytes) -> None:
        buf = self._sse + data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._frame(buf[start:end])
            start = end + 2
        self._sse = buf[start:]

    def _frame(self, frame: bytes) -> None:  # noqa: C901 - the SSE field loop, kept flat
        self.frames += 1
        if frame.startswith(b":"):
            self.heartbeats += 1
            return
        event = b"message"
        data: list[bytes] = []
        for line in frame.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                event = line[6:].strip()
            elif line.startswith(b"id:"):
                self.last_id = line[3:].strip().decode()
        if self.keep_ids:
            self.event_names.append(event.decode())
        if event == self.ready_event and not self.initial.done():
            self.initial.set_result(None)
        if not data or event not in (EVENT, RECENT):
            return
        body: dict[str, Any] = orjson.loads(b"\n".join(data))
        now = time.time()
        if event == EVENT:
            self._record(body.get("data"), now)
            return
        # `recent` lists what was created before the stream's snapshot: delivered too.
        for item in body.get("notifications", []):
            self._record(item.get("data"), now)

    def _record(self, payload: object, now: float) -> None:
        if not isinstance(payload, dict) or "seq" not in payload:
            return
        seq = payload["seq"]
        self.events += 1
        self.last_arrival = now
        if seq in self.seqs:
            self.duplicates += 1
            return
        self.seqs.add(seq)
        if self.on_complete is not None and len(self.seqs) == self.expect:
            self.on_complete()
        latency = now - payload["t"]
        self.max_latency = max(self.max_latency, latency)
        if self.hist is not None:
            bucket = int(latency * 1e6) // UNIT_US
            self.hist[bucket] = self.hist.get(bucket, 0) + 1

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def get_request(path: str, *, last_event_id: str | None = None) -> bytes:
    extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"Cache-Control: no-cache\r\n{extra}\r\n"
    ).encode()


async def open_stream(
    port: int,
    path: str,
    hist: dict[int, int] | None,
    *,
    source: str | None = None,
    last_event_id: str | None = None,
    timeout: float = 30,
    keep_ids: bool = False,
    ready_event: bytes | None = None,
) -> SseStream:
    """Connect and wait for the response head (and the ``ready_event`` frame, when given,
    bounded by ``timeout``); check ``.status`` (200 on success)."""
    loop = asyncio.get_running_loop()
    request = get_request(path, last_event_id=last_event_id)
    stream = SseStream(request, hist, keep_ids=keep_ids, ready_event=ready_event)
    local = (source, 0) if source else None
    await asyncio.wait_for(
        loop.create_connection(lambda: stream, "127.0.0.1", port, local_addr=local), timeout
    )
    await asyncio.wait_for(asyncio.shield(stream.opened), timeout)
    if ready_event is not None and stream.status == 200:
        await asyncio.wait({stream.initial, stream.closed}, timeout=min(timeout, READY_WAIT_S))
    return stream


# ── POST side ──────────────────────────────────────────────────────────────


class PostPool:
    """``size`` keep-alive HTTP/1.1 connections for POSTs; each request is timed."""

    def __init__(self, port: int, size: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.size = size
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.statuses: dict[int, int] = {}

    async def __aenter__(self) -> Self:
        for _ in range(self.size):
            self._idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
        reader, writer = await self._idle.get()
        started = time.perf_counter()
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            status, answer, keep = await asyncio.wait_for(_response(reader), timeout)
        except BaseException:
            writer.close()
            self._idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
            raise
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if keep:
            self._idle.put_nowait((reader, writer))
        else:
            writer.close()
            self._idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return status, answer


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = b""
    keep = headers.get("connection", "").lower() != "close"
    return status, body, keep


def notification_body(user: str, seq: int) -> bytes:
    """The POST body: our API's shape; Nchan relays it verbatim, so the reader finds the same."""
    return orjson.dumps(
        {
            "type": "bench",
            "notifiableType": "user",
            "notifiableId": user,
            "data": {"seq": seq, "t": time.time()},
        }
    )

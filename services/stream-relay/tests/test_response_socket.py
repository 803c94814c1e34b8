"""A stream's response on uvicorn's own request cycle: the head goes out with the first frame.

These drive :class:`~stream_relay.sse_response.SseResponse` over a real uvicorn
``RequestResponseCycle`` whose transport records each ``write`` (one write is one
``send`` on the socket): what a raw-socket client cannot tell apart reliably.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from stream_relay.errors import unexpected_error_response
from stream_relay.sse_response import SseResponse


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def response(http_version: str = "1.1") -> tuple[SseResponse, Transport]:
    transport = Transport()
    scope: Any = {
        "type": "http",
        "http_version": http_version,
        "method": "GET",
        "path": "/api/v1/notifications/stream",
        "headers": [],
    }
    log = logging.getLogger("test")
    cycle = RequestResponseCycle(
        scope=scope,
        transport=transport,
        flow=FlowControl(transport),
        logger=log,
        access_logger=log,
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=http_version != "1.0",
        on_response=lambda: None,
    )
    return SseResponse(scope, cycle.receive, cycle.send), transport


class TestHead:
    async def test_the_head_and_the_first_frame_are_one_write(self):
        stream, transport = response()
        stream.start(lambda: None)
        assert transport.writes == []  # nothing before the first frame
        await stream.write(b"event: connected\ndata: {}\n\n")
        assert len(transport.writes) == 1
        head, _, body = transport.writes[0].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"content-type: text/event-stream; charset=utf-8" in head
        assert b"transfer-encoding: chunked" in head
        assert body == b"1b\r\nevent: connected\ndata: {}\n\n\r\n"
        await stream.write(b": heartbeat\n\n")
        assert len(transport.writes) == 2  # later frames: a write each
        await stream.end()

    async def test_http_1_0_gets_one_close_delimited_write(self):
        stream, transport = response("1.0")
        stream.start(lambda: None)
        await stream.write(b"retry: 3000\n\n")
        assert len(transport.writes) == 1
        head, _, body = transport.writes[0].partition(b"\r\n\r\n")
        assert b"transfer-encoding" not in head
        assert b"connection: close" in head
        assert body == b"retry: 3000\n\n"
        await stream.end()

    async def test_a_response_ended_before_any_frame_still_sends_its_head(self):
        stream, transport = response()
        stream.start(lambda: None)
        await stream.end()
        assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
        assert transport.writes[-1].endswith(b"0\r\n\r\n")

    async def test_a_bug_before_the_first_frame_is_answered_json_500(self):
        stream, transport = response()
        stream.start(lambda: None)
        assert stream.head_pending
        await stream.refuse(unexpected_error_response(RuntimeError("bug")))
        answer = b"".join(transport.writes)
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error")
        body = answer.partition(b"\r\n\r\n")[2]
        assert orjson.loads(body)["error"]["code"] == "internal_error"

"""The API process as uvicorn serves it: JSON errors and one log format (DESIGN §2, §4)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
from tests.api.conftest import SECRET, migrate
from tests.support.servers import child, eventually, free_port, wait_http_ok

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+ ")


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


class TestMalformedRequest:
    """Regression (issue #10, defect 8): uvicorn's own 400 was text/plain, its lines unformatted."""

    async def test_a_malformed_request_gets_a_json_400_and_a_formatted_line(
        self, rabbitmq_url: str, tmp_path: Path
    ):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
        await migrate(database_url)
        port = free_port()
        env = {"DATABASE_URL": database_url, "RABBITMQ_URL": rabbitmq_url, "JWT_SECRET": SECRET}
        log_path = tmp_path / "api.log"
        with child(["api", "--port", str(port), "--no-migrate"], env, log_path) as api:
            await wait_http_ok(f"http://127.0.0.1:{port}/healthz")
            answer = await _raw(port, b"GET /healthz HTTP/1.1\r\nHost\x01: x\r\n\r\n")
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 ")
            assert b"content-type: application/json" in head.lower()
            assert orjson.loads(body)["error"]["code"] == "bad_request"

            async def logged() -> bool:
                return '"- -" 400' in api.log()

            await eventually(logged, timeout=5, what="the 400's access line")
            api.terminate()
        lines = [line for line in log_path.read_text().splitlines() if line.strip()]
        assert lines, "the API logged nothing"
        assert [line for line in lines if not LINE.match(line)] == []
        assert any(" INFO uvicorn.error Started server process" in line for line in lines)
        assert any('notifications_api.access 127.0.0.1 "- -" 400 ' in line for line in lines)
        assert any(
            'notifications_api.access 127.0.0.1 "GET /healthz" 200 ' in line for line in lines
        )

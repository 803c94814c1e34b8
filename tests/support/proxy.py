"""A TCP proxy the test controls: cut and restore a connection for real."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target.

    ``cut()`` drops every connection and refuses new ones until ``restore()``.
    With ``tls``, clients speak TLS to the proxy (it terminates it, like a TLS
    listener of the broker) and the target gets plain bytes.
    """

    def __init__(
        self, target_host: str, target_port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self._tls = tls
        self.accepted = 0  # connections forwarded to the target so far
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._open = True
        self._blackholed: set[str] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, ssl=self._tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Close every proxied connection and refuse new ones until :meth:`restore`."""
        self._open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self._open = True
        self._blackholed.clear()

    def blackhole(self, direction: str = "to_client") -> None:
        """Silently drop bytes going ``to_client`` or ``to_server``; connections stay open."""
        self._blackholed.add(direction)

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pipes):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        for src, dst, direction in (
            (reader, up_writer, "to_server"),
            (up_reader, writer, "to_client"),
        ):
            task = asyncio.create_task(self._pipe(src, dst, direction))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if direction in self._blackholed:
                    continue
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


@contextlib.asynccontextmanager
async def tcp_proxy(
    host: str, port: int, tls: ssl.SSLContext | None = None
) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(host, port, tls)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()

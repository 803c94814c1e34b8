"""How the relay is served by uvicorn (with response_socket.py, all that touches its internals).

uvicorn is pinned to a minor version (``~=0.54.0``) and the relay's tests drive
a real server over raw sockets, so a change in what this module relies on is
caught. Everything else in the relay speaks plain ASGI.

- :class:`RelayHttpProtocol` is uvicorn's httptools protocol with three
  guarantees of its own: a request head is bounded (:data:`MAX_HEAD_BYTES`; a
  longer one is answered 431 and never reaches the app); a request uvicorn
  cannot parse is answered 400 in the services' JSON error shape; and a socket
  that closes ends every response on it (uvicorn tells only a connection's
  newest request that its client left, so a stream followed by a pipelined
  request never learned it and held its slot until its token expired).
- :class:`~stream_relay.response_socket.ResponseSocket` (its own module, the
  other one that touches uvicorn) is the socket of one response.
- :class:`RelayServer` ends the relay's streams before uvicorn waits for open
  connections, so clients reconnect elsewhere at once; SIGTERM exits 0.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any, Final

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from qahub_contracts.errors import ErrorCode, raw_error_response
from qahub_contracts.logs import access_line, uvicorn_log_config

__all__ = ["MAX_HEAD_BYTES", "RelayHttpProtocol", "RelayServer", "server_config"]

log = logging.getLogger("stream_relay.server")
access_log = logging.getLogger("stream_relay.access")

MAX_HEAD_BYTES: Final = 32 * 1024
"""Request line plus header fields, as nginx's default ``large_client_header_buffers``."""

_ACCEPT_BACKLOG: Final = 65535
_LINGER_SECONDS: Final = 1.0  # read (and drop) what a refused client still sends, then close


class RelayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head, JSON 400s and no orphaned stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's own
        super().__init__(*args, **kwargs)
        # One attribute: uvicorn's instance dict stays key-shared (a few more attributes
        # would make it a plain dict, about 1.3 KiB more per open stream).
        self._state = _ConnectionState()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:  # noqa: ANN401
        self._state.running = cycle
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        running, self._state.running = self._state.running, None
        if running is not None and not running.response_complete:
            running.disconnected = True  # its app's receive() answers http.disconnect
            running.message_event.set()

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state.refused:
            return  # lingering after a refusal: read and drop
        if state.in_head:
            state.unparsed += len(data)
        super().data_received(data)
        if state.in_head and state.unparsed > MAX_HEAD_BYTES and not state.refused:
            self.send_400_response("request head too large")

    def on_message_begin(self) -> None:
        self._state.head = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._state.head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._state.head += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        state = self._state
        if state.head > MAX_HEAD_BYTES:
            msg = "request head too large"
            raise ValueError(msg)  # the parser fails the request: send_400_response
        state.in_head, state.unparsed = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._state.in_head, self._state.unparsed = True, 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """Refuse the request: 431 for a head over the bound, else 400, in JSON."""
        state = self._state
        state.refused = True
        too_large = state.head > MAX_HEAD_BYTES or state.unparsed > MAX_HEAD_BYTES
        status = 431 if too_large else 400
        if state.running is None or state.running.response_complete:
            code = ErrorCode.HEADERS_TOO_LARGE if too_large else ErrorCode.BAD_REQUEST
            message = f"request head over {MAX_HEAD_BYTES} bytes" if too_large else msg
            extra = self.server_state.default_headers
            self.transport.write(raw_error_response(status, code, message, extra))
        # else a response is under way on this socket: a 400 would corrupt it; just close
        client = self.client[0] if self.client else "-"
        access_line(access_log, client, "-", "-", status=status, seconds=0.0)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then EOF
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


class _ConnectionState:
    """What :class:`RelayHttpProtocol` keeps per connection."""

    __slots__ = ("head", "in_head", "refused", "running", "unparsed")

    def __init__(self) -> None:
        self.running: RequestResponseCycle | None = None  # the request being answered
        self.head = 0  # the current head's bytes, as parsed
        self.unparsed = 0  # bytes received while a head is incomplete
        self.in_head = True
        self.refused = False


def server_config(
    app: ASGIApp, *, host: str, port: int, level: int | str = logging.INFO
) -> uvicorn.Config:
    """uvicorn's configuration for a relay: :class:`RelayHttpProtocol`, the services'
    log format for uvicorn's own loggers, streams given 5 s to end on shutdown.

    uvicorn's access log stays off: it prints query strings (``?token=``);
    :class:`~stream_relay.app.AccessLog` logs each request without it.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=RelayHttpProtocol,
        access_log=False,
        log_config=uvicorn_log_config(level),
        timeout_graceful_shutdown=5,
        # A relay that dies sends all its clients here within one `retry:`: a long accept
        # queue (the kernel caps it at net.core.somaxconn) keeps their SYNs from being
        # dropped and retried seconds later.
        backlog=_ACCEPT_BACKLOG,
        lifespan="on",
    )


class RelayServer(uvicorn.Server):
    """uvicorn serving the relay: :class:`RelayHttpProtocol` unless the config names
    another protocol, streams ended before it waits for connections, SIGTERM exits 0.

    ``stop_streams`` ends the open streams; by default the app's
    ``state.stop_streams`` (see :func:`stream_relay.app.create_app`).
    """

    def __init__(
        self, config: uvicorn.Config, *, stop_streams: Callable[[], None] | None = None
    ) -> None:
        if config.http == "auto":
            config.http = RelayHttpProtocol
        if not (isinstance(config.http, type) and issubclass(config.http, RelayHttpProtocol)):
            log.info(
                "fast path off: HTTP is served by %s, not RelayHttpProtocol; streams are "
                "written through ASGI send and the server's own request limits apply",
                getattr(config.http, "__name__", config.http),
            )
        super().__init__(config)
        self._stop_streams = stop_streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stop = self._stop_streams or _app_stop_streams(
            self.config.loaded_app if self.config.loaded else self.config.app
        )
        if stop is not None:
            stop()
        await super().shutdown(sockets)
        # A clean stop on SIGTERM is a success: exit 0 instead of uvicorn re-raising it.
        self._captured_signals.clear()


def _app_stop_streams(app: object) -> Callable[[], None] | None:
    """``state.stop_streams`` of the relay app under uvicorn's wrappers (or ``None``)."""
    for _ in range(8):  # uvicorn's wrappers nest a few levels at most
        stop = getattr(getattr(app, "state", None), "stop_streams", None)
        if callable(stop):
            return stop  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
    return None

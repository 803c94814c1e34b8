"""How the API is served by uvicorn: the one module that relies on uvicorn's internals.

uvicorn answers a request it cannot parse itself, before any ASGI app sees
it: a ``text/plain`` 400 and no access line. :class:`JsonErrorProtocol`
answers that 400 in the services' JSON error shape and logs the access line
in the services' format (DESIGN §4: every error is ``{"error": {...}}``).
It subclasses uvicorn's httptools protocol and overrides its
``send_400_response``; uvicorn is pinned to a minor version, and a test
sends a malformed request to the real server, so a change there is caught.
"""

from __future__ import annotations

import logging
import time

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from notifications_api.access_log import log
from qahub_contracts.errors import ErrorCode, raw_error_response
from qahub_contracts.logs import access_line, uvicorn_log_config

__all__ = ["JsonErrorProtocol", "server_config"]


class JsonErrorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a malformed request's 400 in JSON."""

    def send_400_response(self, msg: str) -> None:
        del msg  # uvicorn's text; the answer says the same in the services' shape
        started = time.perf_counter()
        self.transport.write(
            raw_error_response(400, ErrorCode.BAD_REQUEST, "malformed HTTP request")
        )
        self.transport.close()
        client = self.client[0] if self.client else "-"
        access_line(log, client, "-", "-", status=400, seconds=time.perf_counter() - started)


def server_config(
    app: FastAPI, *, host: str, port: int, level: int = logging.INFO
) -> uvicorn.Config:
    """uvicorn's configuration for the API: JSON 400s, the services' log format.

    uvicorn's access log stays off: :class:`~notifications_api.access_log.AccessLog`
    logs each request without its query string.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=JsonErrorProtocol,
        access_log=False,
        log_config=uvicorn_log_config(level),
        server_header=False,
    )

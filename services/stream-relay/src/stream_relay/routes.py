"""HTTP routes of the relay: the stream's connection counts, health, metrics, demo page.

The stream itself is :mod:`stream_relay.stream_endpoint` (a bare ASGI
endpoint). Handlers stay thin: authentication is :mod:`stream_relay.security`,
errors are :mod:`stream_relay.errors`.
"""

from __future__ import annotations

import time
from importlib.resources import files
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from stream_relay.relay import Relay
from stream_relay.security import Caller, authenticate

__all__ = ["router"]

router = APIRouter()


def _relay(request: Request) -> Relay:
    relay: Relay = request.state.relay
    return relay


RelayDep = Annotated[Relay, Depends(_relay)]


async def _caller(request: Request, relay: RelayDep) -> Caller:
    return await authenticate(request, relay.verifier)


CallerDep = Annotated[Caller, Depends(_caller)]


@router.get("/api/v1/notifications/stream/connections")
async def connections(relay: RelayDep, caller: CallerDep) -> dict[str, Any]:
    """Open streams on this relay: ``{total, user}``; admins also get ``byUser``."""
    body: dict[str, Any] = {
        "total": relay.registry.total,
        "user": relay.registry.count(caller.principal.user_id),
    }
    if caller.principal.is_admin:
        body["byUser"] = relay.registry.by_user()
    return body


# The demo page runs only this origin's own scripts and styles (no inline code), talks
# only to this origin, sends no Referer (its address may briefly hold ?token=) and may
# not be framed; nosniff keeps the browser from guessing the type of any of its files.
_PAGE_SECURITY: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_STATIC_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@router.get("/", response_class=HTMLResponse)
async def demo_page() -> HTMLResponse:
    """The demo inbox (``/?token=<jwt>``), built on ``/static/qahub-notifications.js``."""
    page = files("stream_relay").joinpath("static/index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-store", **_PAGE_SECURITY})


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """A file of the demo page: scripts and styles of the package's ``static/`` folder only."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    resource = files("stream_relay").joinpath("static", name)
    if name.startswith(".") or suffix not in _STATIC_TYPES or not resource.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return Response(
        resource.read_bytes(),
        media_type=_STATIC_TYPES[suffix],
        headers={"Cache-Control": "no-cache", **_PAGE_SECURITY},
    )


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(relay: RelayDep) -> JSONResponse:
    """Ready when subscribed to the event log and caught up with it; 503 otherwise."""
    consumer = relay.consumer
    ready = consumer.subscribed and consumer.caught_up.is_set() and not relay.registry.closing
    body = {
        "status": "ready" if ready else "not ready",
        "consumer": {
            "subscribed": consumer.subscribed,
            "caughtUp": consumer.caught_up.is_set(),
            "lastOffset": consumer.last_offset,
            "lagSeconds": consumer.lag_seconds,
            "parked": len(consumer.parked),
        },
        "connections": relay.registry.total,
        "checkedAt": time.time(),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(relay: RelayDep) -> Response:
    """Prometheus exposition of this relay's metrics."""
    return Response(generate_latest(relay.metrics.registry), media_type=CONTENT_TYPE_LATEST)

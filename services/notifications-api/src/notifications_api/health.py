"""Liveness, readiness (database + broker + outbox lag) and Prometheus metrics."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from notifications_api import outbox
from notifications_api.dependencies import StateDep

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (it answers); says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database or the broker is down"}})
async def readyz(state: StateDep) -> JSONResponse:
    """200 when the database answers and the broker link is open; 503 otherwise.

    The broker is reported down from the moment its connection closes (not at
    the next publish). Reports the outbox's lag when the database answers.
    """
    body: dict[str, Any] = {"database": "down", "broker": "down", "outbox": None}
    with contextlib.suppress(Exception):
        async with state["engine"].connect() as connection:
            await connection.execute(text("SELECT 1"))
        body["database"] = "ok"
        lag = await outbox.lag(state["sessions"])
        body["outbox"] = {"pending": lag.pending, "oldestSeconds": round(lag.oldest_seconds, 3)}
    if state["dispatcher"].broker_connected:
        body["broker"] = "ok"
    ready = body["database"] == "ok" and body["broker"] == "ok"
    body["status"] = "ready" if ready else "unavailable"
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus"}
    },
)
async def metrics(state: StateDep) -> Response:
    with contextlib.suppress(Exception):
        lag = await outbox.lag(state["sessions"])
        state["metrics"].outbox_pending.set(lag.pending)
    return Response(generate_latest(state["metrics"].registry), media_type=CONTENT_TYPE_LATEST)

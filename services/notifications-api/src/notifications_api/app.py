"""The notifications API: ``create_app(settings)`` and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Connection, text

from notifications_api import health, routes
from notifications_api.access_log import AccessLog
from notifications_api.body_limit import BodyLimit
from notifications_api.command_broker import CommandSubscription
from notifications_api.commands import Commands
from notifications_api.database import open_database
from notifications_api.database_gate import DatabaseGate
from notifications_api.dependencies import State
from notifications_api.dispatcher import OutboxDispatcher
from notifications_api.errors import install_error_handlers
from notifications_api.leadership import leadership_for
from notifications_api.metrics import ApiMetrics
from notifications_api.notifications import Notifications
from notifications_api.preferences import PreferenceStore
from notifications_api.rate_limit import RateLimiter
from notifications_api.settings import ApiSettings
from qahub_contracts.logs import quiet_broker_drops
from qahub_contracts.topology import IDEMPOTENCY_KEY_HEADER

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _probe(connection: Connection) -> None:
    """A transaction on the writer: the database answers (and, on SQLite, takes writes)."""
    connection.execute(text("SELECT 1"))


async def _finish(task: asyncio.Task[None], seconds: float) -> None:
    """Let the dispatcher end its confirm, but never hold shutdown past ``seconds``:
    rows it did not settle stay pending and are published by the next leader."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("outbox dispatcher did not stop within %.0f s; cancelled", seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the API. Nothing connects until the lifespan starts."""
    metrics = ApiMetrics()
    quiet_broker_drops()  # a broker going away is one line, not a traceback (DESIGN §2)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        database = open_database(settings.database_url)
        dispatcher = OutboxDispatcher(
            settings,
            metrics,
            readers=database.sessions,
            writer=database.writer,
            leadership=leadership_for(database.engine),
        )
        task = asyncio.create_task(dispatcher.run(), name="outbox-dispatcher")
        preferences = PreferenceStore(database)
        notifications = Notifications(database, dispatcher.wake, preferences)
        notifications.start()
        verifier = settings.token_verifier()
        gate = DatabaseGate(lambda: database.writer.run(_probe), metrics.commands_paused.set)
        commands = CommandSubscription(
            Commands(notifications, verifier, metrics, gate),
            settings.broker_endpoints,
            settings.command_prefetch,
        )
        commands.start()
        try:
            yield State(
                engine=database.engine,
                sessions=database.sessions,
                verifier=verifier,
                notifications=notifications,
                preferences=preferences,
                dispatcher=dispatcher,
                metrics=metrics,
                rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            )
        finally:
            await commands.stop()
            await gate.stop()
            await notifications.stop()
            await dispatcher.stop()
            await _finish(task, settings.publish_timeout_seconds + 5)
            await database.close()

    app = FastAPI(
        title="QaHub Notifications API",
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # Observability is Prometheus (/metrics); FastAPI's native OpenTelemetry
        # would still cost a provider check per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(health.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", IDEMPOTENCY_KEY_HEADER],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog, metrics=metrics)
    return app

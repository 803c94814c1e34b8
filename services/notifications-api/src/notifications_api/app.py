"""The notifications API: ``create_app(settings)`` and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from notifications_api import health, routes
from notifications_api.access_log import AccessLog
from notifications_api.body_limit import BodyLimit
from notifications_api.database import (
    create_engine,
    create_read_engine,
    create_sessionmaker,
    create_writer,
)
from notifications_api.dependencies import State
from notifications_api.errors import install_error_handlers
from notifications_api.group_commit import CreateBatcher
from notifications_api.metrics import ApiMetrics
from notifications_api.notifications import Notifications
from notifications_api.outbox import OutboxDispatcher
from notifications_api.rate_limit import RateLimiter
from notifications_api.settings import ApiSettings
from qahub_contracts.topology import IDEMPOTENCY_KEY_HEADER

__all__ = ["create_app"]


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the API. Nothing connects until the lifespan starts."""
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        engine = create_engine(settings.database_url)
        reader = create_read_engine(settings.database_url, engine)
        sessions = create_sessionmaker(engine)
        writer = create_writer(settings.database_url, engine)
        dispatcher = OutboxDispatcher(
            engine, settings, metrics, readers=create_sessionmaker(reader), writer=writer
        )
        task = asyncio.create_task(dispatcher.run(), name="outbox-dispatcher")
        batcher = CreateBatcher(writer, dispatcher.wake)
        batcher.start()
        try:
            yield State(
                engine=engine,
                sessions=sessions,
                verifier=settings.token_verifier(),
                notifications=Notifications(sessions, dispatcher.wake, batcher),
                dispatcher=dispatcher,
                metrics=metrics,
                rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            )
        finally:
            await batcher.stop()
            await dispatcher.stop()
            await task
            await asyncio.to_thread(writer.close)
            await engine.dispose()
            if reader is not engine:
                await reader.dispose()

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
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", IDEMPOTENCY_KEY_HEADER],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog, metrics=metrics)
    return app

"""Alembic environment: runs on the connection handed over by ``upgrade``."""

from __future__ import annotations

from alembic import context

from notifications_api.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    msg = "run migrations through notifications_api.migrations.upgrade (qahub-notify migrate)"
    raise RuntimeError(msg)

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Inbox state (DESIGN §13): seen and archived notifications, the unseen counter, preferences.

Upgrades a populated database in place: a notification already read counts as
seen (reading marks seen), so every counter's ``unseen`` starts as its ``unread``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE notifications SET seen_at = read_at WHERE read_at IS NOT NULL")
    with op.batch_alter_table("user_counters") as batch:
        batch.add_column(
            sa.Column("unseen", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    op.execute("UPDATE user_counters SET unseen = unread")
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("document", _json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
    with op.batch_alter_table("user_counters") as batch:
        batch.drop_column("unseen")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("archived_at")
        batch.drop_column("seen_at")

"""tables console replicas share: login_failures (the login limits), live_events (large live
events relayed between replicas)

``login_failures``: one row per failed login per limiter key, so the login limits hold across
every replica on one PostgreSQL database (SQLite uses it too). ``live_events``: a live event
over PostgreSQL's NOTIFY payload limit, stored for the other replicas to read by id
(docs/design/replicas.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.console.store.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("attempt", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_at", "login_failures", ["at"])
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_live_events_created_at", "live_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_live_events_created_at", table_name="live_events")
    op.drop_table("live_events")
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_table("login_failures")

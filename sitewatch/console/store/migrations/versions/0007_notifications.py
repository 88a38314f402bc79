"""notifications: routes, the durable outbox and delivery log, alerts' escalation levels

``notify_routes``: who gets what (channel and target, sites, cameras, rules, hours, level);
``notifications``: one row per notification, its state, attempts and delivery;
``alert_notices``: the escalation level each alert reached, and when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = sitewatch.console.store.models.UTCDateTime(timezone=True)
    op.create_table(
        "notify_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("hours", sa.String(length=11), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("rate_per_min", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("route_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=True),
        sa.Column("site_id", sa.String(length=40), nullable=True),
        sa.Column("camera_id", sa.String(length=40), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", utc, nullable=False),
        sa.Column("lease_until", utc, nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("sent_at", utc, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["route_id"], ["notify_routes.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_state_next", ["state", "next_try_at"])
        batch_op.create_index("ix_notifications_route_sent", ["route_id", "sent_at"])
        batch_op.create_index(batch_op.f("ix_notifications_alert_id"), ["alert_id"])
    op.create_table(
        "alert_notices",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("routes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "level"),
    )


def downgrade() -> None:
    op.drop_table("alert_notices")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_alert_id"))
        batch_op.drop_index("ix_notifications_route_sent")
        batch_op.drop_index("ix_notifications_state_next")
    op.drop_table("notifications")
    op.drop_table("notify_routes")

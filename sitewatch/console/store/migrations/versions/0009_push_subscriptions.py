"""push subscriptions: the browsers that asked for Web Push, per user

``push_subscriptions``: one row per browser push endpoint (unique), with the keys the
browser gave for RFC 8291 encryption (``p256dh``: its P-256 public key, ``auth``: the
16-byte secret, both base64url) and the user it notifies; removed with the user, and by the
console when the push service answers 404 or 410 (sitewatch/console/notify/webpush.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = sitewatch.console.store.models.UTCDateTime(timezone=True)
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("last_sent_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscriptions_user_id"), ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscriptions_user_id"))
    op.drop_table("push_subscriptions")

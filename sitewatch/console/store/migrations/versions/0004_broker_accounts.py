"""broker identities: broker_accounts

The console's and each site edge's account on the MQTT broker (the password file and ACL are
written from these rows) and each edge's Ed25519 public key, which the console checks the
edge's signed messages against.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broker_accounts",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sitewatch.console.store.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", sitewatch.console.store.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("username"),
        sa.UniqueConstraint("site_id"),
    )


def downgrade() -> None:
    op.drop_table("broker_accounts")

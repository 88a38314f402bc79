"""console_replicas: each console replica's id, address and heartbeat, so an edge's video
upload that the proxy hands another replica is passed on to the one that asked
(docs/design/replicas.md, "Uploads to the replica that asked").

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 05:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sitewatch.console.store.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_replicas",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_replicas_seen_at", "console_replicas", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_console_replicas_seen_at", table_name="console_replicas")
    op.drop_table("console_replicas")

"""report routes: notify_routes.reports

``reports``: NULL for a route of alerts; ``["daily"]``, ``["weekly"]`` or both for a route
that gets the scheduled reports of its sites instead (sitewatch/console/notify/schedule.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notify_routes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reports", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notify_routes", schema=None) as batch_op:
        batch_op.drop_column("reports")

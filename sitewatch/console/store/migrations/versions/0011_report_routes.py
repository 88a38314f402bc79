"""report routes and incident updates: notify_routes.reports, notify_routes.incident_updates

``reports``: NULL for a route of alerts; ``["daily"]``, ``["weekly"]`` or both for a route
that gets the scheduled reports of its sites instead (sitewatch/console/notify/schedule.py).
``incident_updates``: a level-1 alert route that also wants a "N more" line as an incident it
was told of grows (sitewatch/console/notify/updates.py); false by default.

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
        batch_op.add_column(
            sa.Column("incident_updates", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("notify_routes", schema=None) as batch_op:
        batch_op.drop_column("incident_updates")
        batch_op.drop_column("reports")

"""site time zone: sites.timezone

The IANA zone an edge reports in its status (``EdgeStatus.timezone``): the console counts a
site's days and shows its times in it. NULL until the site's edge sends one (UTC then).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 20:35:37.149703
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("timezone")

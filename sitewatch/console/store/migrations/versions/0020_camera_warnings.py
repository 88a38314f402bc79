"""the edge's standing warnings: ``cameras.warnings`` and ``sites.warnings``

An edge's CameraStatus now carries ``warnings`` about the camera's settings (e.g. a tile look
on frames too small for tiles), its EdgeStatus ``warnings`` about its own (e.g. a model that
miscounts on its CPU); the console shows them on the camera and the site. null = none (rows
written before, and edges that send none).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("cameras", "sites"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("cameras", "sites"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("warnings")

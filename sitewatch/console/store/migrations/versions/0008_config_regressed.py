"""config going backwards: sites.config_regressed, cameras.config_regressed; cameras.settings

``config_regressed`` is set while an edge (a site) or one camera's config reports an older
config version than the last change the console saw applied there: ``{"applied", "reported",
"since"}``, NULL otherwise (sitewatch/console/domain/config_regress.py). ``cameras.settings``:
the camera's name, stream URLs (passwords masked), fps and input size as its edge reports them
(the camera editor's start; NULL from edges that predate camera commands).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("sites", "cameras"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("config_regressed", sa.JSON(), nullable=True))
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("settings")
    for table in ("cameras", "sites"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("config_regressed")

"""recording indexes whose last span is still being recorded: ``recording_indexes.recording``

An edge now publishes a RecordingIndex only when something but the growing end of its last
span changed (and at least every 15 minutes); ``recording`` says that end is still growing,
and the console extends it up to the camera's last status (sitewatch/console/video/recordings.py,
:func:`shown_spans`). Rows written before are not growing (false), as their edges' indexes said.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recording_indexes") as batch:
        batch.add_column(
            sa.Column("recording", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_indexes") as batch:
        batch.drop_column("recording")

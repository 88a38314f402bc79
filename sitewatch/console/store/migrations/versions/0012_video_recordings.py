"""recordings and range exports (issue 15): recording_indexes, video_exports

``recording_indexes``: the latest RecordingIndex per (site, camera, stream), the spans each
edge holds (sitewatch/console/video/recordings.py). ``video_exports``: recorded ranges kept as
evidence, pending until the edge's upload is stored, then ready (SHA-256, size) or failed
with a reason (sitewatch/console/video/exports.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = sitewatch.console.store.models.UTCDateTime(timezone=True)
    op.create_table(
        "recording_indexes",
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("keep_s", sa.Float(), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("received_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "camera_id", "stream"),
    )
    op.create_table(
        "video_exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("start", utc, nullable=False),
        sa.Column("end", utc, nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("actual_start", utc, nullable=True),
        sa.Column("actual_end", utc, nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("video_exports", schema=None) as batch_op:
        batch_op.create_index("ix_video_exports_alert_id", ["alert_id"], unique=False)
        batch_op.create_index(
            "ix_video_exports_site_camera", ["site_id", "camera_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("video_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_video_exports_site_camera")
        batch_op.drop_index("ix_video_exports_alert_id")
    op.drop_table("video_exports")
    op.drop_table("recording_indexes")

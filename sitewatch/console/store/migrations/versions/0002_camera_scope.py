"""camera scope: users.cameras, and the camera of each audit row

Users may be limited to cameras (``users.cameras``, "site_id/camera_id" entries, NULL = every
camera of their sites); audit rows name their camera (``audit_log.camera_id``) so such a user
sees only the custody rows of their cameras. Existing rows get their camera from the alert
(``alert``), the alert of the file (``evidence``: "alert_id/name") or the object id
(``camera``: "site_id/camera_id").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:15:14.834202
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BACKFILL = [
    """UPDATE audit_log SET camera_id = (
           SELECT alerts.camera_id FROM alerts WHERE alerts.id = audit_log.object_id)
       WHERE object_type = 'alert'""",
    """UPDATE audit_log SET camera_id = (
           SELECT alerts.camera_id FROM alerts
           WHERE substr(audit_log.object_id, 1, length(alerts.id) + 1) = alerts.id || '/')
       WHERE object_type = 'evidence'""",
    """UPDATE audit_log SET camera_id = substr(object_id, length(site_id) + 2)
       WHERE object_type = 'camera' AND site_id IS NOT NULL
         AND substr(object_id, 1, length(site_id) + 1) = site_id || '/'""",
]


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("camera_id", sa.String(length=40), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cameras", sa.JSON(), nullable=True))

    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("cameras")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("camera_id")

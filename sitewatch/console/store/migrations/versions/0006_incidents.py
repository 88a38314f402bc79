"""incidents: alerts of one camera, rule and zone close in time, grouped

``incidents`` holds one row per group (its workflow state, first and last time, alert count,
best alert); ``alerts.incident_id`` names each alert's incident. Existing alerts each become an
incident of their own (count 1, the alert's state and times): the window that groups alerts is a
console setting that a migration does not know, so old alerts are not merged after the fact.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BACKFILL = [
    """INSERT INTO incidents (id, site_id, camera_id, rule, zone_id, state, assignee, first_at,
           last_at, alert_count, best_alert_id, best_score, reopen_count, created_at,
           updated_at, acknowledged_at, closed_at)
       SELECT id, site_id, camera_id, rule, NULLIF(zone_id, ''), state, assignee, started_at,
           last_seen_at, 1, id, score, 0, received_at, updated_at, acknowledged_at, closed_at
       FROM alerts""",
    "UPDATE alerts SET incident_id = id",
]


def upgrade() -> None:
    utc = sitewatch.console.store.models.UTCDateTime(timezone=True)
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("zone_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("first_at", utc, nullable=False),
        sa.Column("last_at", utc, nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("best_alert_id", sa.String(length=36), nullable=True),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("acknowledged_at", utc, nullable=True),
        sa.Column("closed_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incidents_key_last",
            ["site_id", "camera_id", "rule", "zone_id", "last_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_incidents_site_state_last", ["site_id", "state", "last_at"], unique=False
        )
        batch_op.create_index("ix_incidents_last", ["last_at"], unique=False)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("incident_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_alerts_incident_id"), ["incident_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_alerts_incident_id", "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alerts_incident_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alerts_incident_id"))
        batch_op.drop_column("incident_id")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_last")
        batch_op.drop_index("ix_incidents_site_state_last")
        batch_op.drop_index("ix_incidents_key_last")
    op.drop_table("incidents")

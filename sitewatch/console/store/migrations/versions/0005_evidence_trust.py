"""evidence trust: signed listings and messages, alerts exported and on legal hold

``alert_events.signed`` and ``evidence.signed``: the message (the listing) was verified against
the site's registered edge key when it arrived (``alert_events.signed_by``: that key);
``alerts.exported_at``: the first police export, after which the alert's facts are fixed;
``alerts.legal_hold``: retention never deletes its evidence.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sitewatch.console.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("signed_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "exported_at",
                sitewatch.console.store.models.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("legal_hold")
        batch_op.drop_column("exported_at")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("signed")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_column("signed_by")
        batch_op.drop_column("signed")

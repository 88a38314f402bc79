"""audit details the page translates: audit_log.detail_key, audit_log.detail_params

A new row's ``detail`` stays the English text (exports, scripts); ``detail_key`` names its
template (``audit_detail.<key>`` in the page's language files) and ``detail_params`` the values
it fills in. Older rows keep NULL in both and show their stored text
(sitewatch/console/domain/audit.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail_key", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("detail_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("detail_params")
        batch_op.drop_column("detail_key")

"""indexes for a county's history: open alerts and open incidents by time, partial

With millions of alerts nearly all closed, the pages that open first (open alerts oldest first,
open incidents oldest first) and their totals read only the open rows: an index over the open
rows alone (``WHERE state IN`` the workflow's open states), in the order the page sorts them
(time, then id). Chosen by EXPLAIN ANALYZE on bench/db_scale.py's history (bench/RESULTS.md,
"Database at county size"). Partial on both databases; SQLite uses it when the query names the
same states as literals, PostgreSQL when it sees their values (it plans with them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN = "state IN ('new', 'acknowledged', 'assigned')"  # workflow.OPEN_STATES, as of 0013
# (index, table, columns, rows kept); bench/db_scale.py reads this
INDEXES = (
    ("ix_alerts_open_started", "alerts", ["started_at", "id"], OPEN),
    ("ix_incidents_open_first", "incidents", ["first_at", "id"], OPEN),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        op.create_index(
            name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
        )


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

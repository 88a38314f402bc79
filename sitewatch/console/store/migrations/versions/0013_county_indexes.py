"""indexes for a county's history: open alerts and incidents by time; a site's month

With millions of alerts nearly all closed, the pages that open first (open alerts oldest first,
open incidents oldest first) and their totals read only the open rows: an index over the open
rows alone (``WHERE state IN`` the workflow's open states), in the order the page sorts them
(time, then id). Partial on both databases; PostgreSQL uses them (it plans with the values),
SQLite only where a query names the states as literals. A site's statistics over a time range
read every column they need from one index (site, start, then camera, rule, state, received,
acknowledged: no table rows), and its incidents per state from (site, first alert, state).
Chosen by EXPLAIN ANALYZE on bench/db_scale.py's history (bench/RESULTS.md, "Database at
county size (10 million alerts)").

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
STATS = ["site_id", "started_at", "camera_id", "rule", "state", "received_at", "acknowledged_at"]
# (index, table, columns, rows kept: None = all); bench/db_scale.py reads this
INDEXES: tuple[tuple[str, str, list[str], str | None], ...] = (
    ("ix_alerts_open_started", "alerts", ["started_at", "id"], OPEN),
    ("ix_incidents_open_first", "incidents", ["first_at", "id"], OPEN),
    ("ix_alerts_site_started_stats", "alerts", STATS, None),
    ("ix_incidents_site_first", "incidents", ["site_id", "first_at", "state"], None),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        if where is None:
            op.create_index(name, table, columns)
        else:
            kept = sa.text(where)
            op.create_index(name, table, columns, postgresql_where=kept, sqlite_where=kept)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

"""statistics rollup: the acknowledgement histogram summed over every site per local day, and
covering indexes on the per-site tables

``stats_ack_all_days`` (day, bin) -> n: ``stats_ack_days`` summed over sites, so the statistics
of every site for a month read one row per day and bin instead of one per site, day and bin
(bench/RESULTS.md, "Database at county size"; docs/design/stats-rollup.md). Kept with each
``stats_ack_days`` delta from then on (sitewatch/console/domain/stats_rollup.py); the upgrade
fills it from ``stats_ack_days``. ``ix_stats_alert_days_cover`` (day, rule, site_id, state, n) and
``ix_stats_incident_days_cover`` (day, state, n): a month of every site is read from the index
alone (a third of the rows a scan of the table reads at two months of history, more later).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 06:30:00
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None
log = logging.getLogger(__name__)


def upgrade() -> None:
    op.create_table(
        "stats_ack_all_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "bin"),
    )
    op.create_index(
        "ix_stats_alert_days_cover", "stats_alert_days", ["day", "rule", "site_id", "state", "n"]
    )
    op.create_index("ix_stats_incident_days_cover", "stats_incident_days", ["day", "state", "n"])
    from sitewatch.console.domain.stats_rollup_build import sum_ack_over_sites

    t0 = time.perf_counter()
    written = sum_ack_over_sites(op.get_bind())
    log.info("stats_ack_all_days filled in %.1f s: %d rows", time.perf_counter() - t0, written)


def downgrade() -> None:
    op.drop_index("ix_stats_incident_days_cover", table_name="stats_incident_days")
    op.drop_index("ix_stats_alert_days_cover", table_name="stats_alert_days")
    op.drop_table("stats_ack_all_days")

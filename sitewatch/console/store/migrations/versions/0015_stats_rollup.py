"""statistics rollup: alerts, times to acknowledge and incidents per site and local day

A statistics view over many sites (a county's month: 3.3 M alerts) reads these instead of the
alerts: ``stats_alert_days`` (day, site, rule, state), ``stats_ack_days`` (day, site, histogram
bin of the time to acknowledge) and ``stats_incident_days`` (day, site, state), each with its
count ``n``; kept in every writing transaction from then on
(sitewatch/console/domain/stats_rollup.py, docs/design/stats-rollup.md). The upgrade fills
them from the alerts and incidents already stored (one grouped read per time zone).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
log = logging.getLogger(__name__)


def _columns(*keys: tuple[str, Any]) -> list[sa.Column[Any]]:
    """day, site_id, the other key columns, n."""
    cols: list[tuple[str, Any]] = [("day", sa.String(10)), ("site_id", sa.String(40)), *keys]
    out: list[sa.Column[Any]] = [
        sa.Column(name, t, nullable=False, autoincrement=False) for name, t in cols
    ]
    return [*out, sa.Column("n", sa.Integer(), nullable=False)]


def upgrade() -> None:
    rule, state = ("rule", sa.String(length=32)), ("state", sa.String(length=16))
    op.create_table(
        "stats_alert_days", *_columns(rule, state),
        sa.PrimaryKeyConstraint("day", "site_id", "rule", "state"),
    )  # fmt: skip
    op.create_table(
        "stats_ack_days", *_columns(("bin", sa.Integer())),
        sa.PrimaryKeyConstraint("day", "site_id", "bin"),
    )  # fmt: skip
    op.create_table(
        "stats_incident_days", *_columns(state),
        sa.PrimaryKeyConstraint("day", "site_id", "state"),
    )  # fmt: skip
    from sitewatch.console.domain.stats_rollup_build import rebuild

    t0 = time.perf_counter()
    written = rebuild(op.get_bind())
    log.info("statistics rollup filled in %.1f s: %s rows", time.perf_counter() - t0, written)


def downgrade() -> None:
    for table in ("stats_incident_days", "stats_ack_days", "stats_alert_days"):
        op.drop_table(table)

"""The exact statistics of ``GET /api/stats``, counted from the alerts: alerts per local day of
their site, site, camera and rule, and the median and 90th percentile of the time to
acknowledge (``acknowledged_at - received_at``, seconds, negative counted as 0; linear
interpolation between the closest ranks, numpy's default).

Two code paths, one answer: PostgreSQL computes the local day (``AT TIME ZONE`` the site's
zone) and the percentiles (``percentile_cont``, the same interpolation in double precision)
in SQL and returns one row per answer row; SQLite, which has neither time zones nor
``percentile_cont``, counts per UTC quarter hour and fetches the times, and Python folds and
sorts them. A site's zone is its ``sites.timezone`` when Python's zoneinfo knows it, else UTC,
on both (PostgreSQL must know the same IANA names: ingest accepts only those). Why:
docs/design/stats-rollup.md, "The exact answer".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Integer,
    case,
    cast,
    extract,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from sitewatch.console.domain.stats_rollup import site_zones
from sitewatch.console.domain.stats_rollup_tables import zone
from sitewatch.console.schemas import DayCount
from sitewatch.console.store.models import Alert, Site

QUARTER_HOUR_S = 900
Row = tuple[str, str, str, str, int]  # (local day, site, camera, rule, count)
DAY_COUNTS = TypeAdapter(list[DayCount])
"""Validates a whole ``per_day`` in one call (a site's month: a few thousand rows)."""


def ack_summary(
    s: Session, where: Sequence[ColumnElement[bool]]
) -> tuple[float | None, float | None, int]:
    """(median, 90th percentile, count) of the acknowledged alerts' times to acknowledge in
    seconds; (None, None, 0) when none is acknowledged."""
    acked = [*where, Alert.acknowledged_at.is_not(None)]
    if _postgres(s):
        # exact: extract gives numeric microseconds, its float8 the correctly rounded seconds
        secs = func.greatest(
            0.0, cast(extract("epoch", Alert.acknowledged_at - Alert.received_at), Float)
        )
        n, median, p90 = s.execute(
            select(
                func.count(),
                func.percentile_cont(0.5).within_group(secs),
                func.percentile_cont(0.9).within_group(secs),
            ).where(*acked)
        ).one()
        return _float(median), _float(p90), int(n)
    pairs = s.execute(select(Alert.received_at, Alert.acknowledged_at).where(*acked)).all()
    seconds = sorted(max(0.0, (a - r).total_seconds()) for r, a in pairs if a is not None)
    return percentile(seconds, 0.5), percentile(seconds, 0.9), len(seconds)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values by linear interpolation (numpy's default,
    PostgreSQL's ``percentile_cont``); None for no values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def per_local_day(
    s: Session, where: Sequence[ColumnElement[bool]], sites: Iterable[str] | None
) -> list[DayCount]:
    """Alerts per local day of their site, site, camera and rule, in that order (Python's
    string order). ``sites``: the sites ``where`` can match (None: any)."""
    if _postgres(s):
        zones = _zone_names(s, sites)
        rows = _days_in_sql(s, where, zones)
    else:
        rows, tzs = _days_from_quarters(s, where)
        zones = {site_id: str(tz) for site_id, tz in tzs.items()}
    keys = ("day", "site_id", "camera_id", "rule", "count", "timezone")
    return DAY_COUNTS.validate_python(
        [dict(zip(keys, (*row, zones.get(row[1], "UTC")), strict=True)) for row in sorted(rows)]
    )


def _days_in_sql(
    s: Session, where: Sequence[ColumnElement[bool]], zones: dict[str, str]
) -> list[Row]:
    """PostgreSQL: one row per (local day, site, camera, rule)."""
    by_zone: dict[str, list[str]] = defaultdict(list)
    for site_id, name in zones.items():
        if name != "UTC":
            by_zone[name].append(site_id)
    local: Any = func.timezone("UTC", Alert.started_at)
    if by_zone:
        local = case(
            *(
                (Alert.site_id.in_(sorted(ids)), func.timezone(literal(name), Alert.started_at))
                for name, ids in sorted(by_zone.items())
            ),
            else_=local,
        )
    day = cast(local, Date)
    rows = s.execute(
        select(day, Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(*where)
        .group_by(day, Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    return [(d.isoformat(), si, c, r, int(n)) for d, si, c, r, n in rows]


def _days_from_quarters(
    s: Session, where: Sequence[ColumnElement[bool]]
) -> tuple[list[Row], dict[str, Any]]:
    """SQLite: counts per UTC quarter hour folded into local days, and the sites' zones. Each
    quarter lies within one local day of every zone, as every zone's offset and every change
    of it falls on a quarter hour (Asia/Kathmandu is UTC+5:45)."""
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; whole seconds first, as SQLite's date
    # functions round to milliseconds (23:59:59.9999 would count on the next day)
    seconds = func.strftime("%s", func.substr(Alert.started_at, 1, 19))
    quarter = cast(seconds, Integer) // QUARTER_HOUR_S
    rows = s.execute(
        select(quarter, Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(*where)
        .group_by(quarter, Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    zones = site_zones(s, {site_id for _, site_id, _, _, _ in rows})
    counts: Counter[tuple[str, str, str, str]] = Counter()
    days: dict[tuple[int, str], str] = {}  # (quarter, site) -> day: shared by its cameras, rules
    for q, site_id, camera_id, rule, n in rows:
        day = days.get((q, site_id))
        if day is None:
            start = datetime.fromtimestamp(int(q) * QUARTER_HOUR_S, UTC)
            day = days[(q, site_id)] = start.astimezone(zones[site_id]).date().isoformat()
        counts[(day, site_id, camera_id, rule)] += n
    return [(d, si, c, r, n) for (d, si, c, r), n in counts.items()], zones


def _zone_names(s: Session, sites: Iterable[str] | None) -> dict[str, str]:
    """The zone name of each site with a known zone among ``sites`` (None: every site); the
    others count in UTC."""
    stmt = select(Site.id, Site.timezone).where(Site.timezone.is_not(None))
    if sites is not None:
        stmt = stmt.where(Site.id.in_(sorted(sites)))
    return {site_id: str(zone(name)) for site_id, name in s.execute(stmt)}


def _postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)

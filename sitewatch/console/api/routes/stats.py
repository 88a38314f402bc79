"""Statistics (violations per day per site, camera and rule; time to acknowledge; incidents per
state), limited to the user's sites."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import BigInteger, ColumnElement, Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from sitewatch.console.api.deps import DB, require
from sitewatch.console.domain.incident_views import incident_filters
from sitewatch.console.domain.queries import alert_filters, capped_total
from sitewatch.console.domain.stats_rollup_read import rollup_stats
from sitewatch.console.permissions import Scope
from sitewatch.console.schemas import DayCount, StatsOut
from sitewatch.console.store.models import ALERT_STATES, Alert, Incident, Site, User

router = APIRouter(prefix="/api", tags=["stats"])
QUARTER_HOUR_S = 900
EXACT_MAX = 10_000
"""Alerts in range up to which a view of several sites is counted exactly from the alerts
(one site's month of a county, 11k alerts, takes 50-130 ms); above it, from the rollup."""


@router.get("/stats", response_model=StatsOut)
def stats(
    user: Annotated[User, Depends(require("stats.read"))],
    s: DB,
    site: str | None = None,
    camera: str | None = None,
    since: Annotated[datetime | None, Query(description="started_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="started_at < until")] = None,
) -> StatsOut | Response:
    """Alerts per day, site, camera and rule (by ``started_at``; a site's days are its local
    dates, in the time zone its edge reports, UTC while unknown); alerts per state; time
    to acknowledge = ``acknowledged_at - received_at`` (from the moment the console had it),
    median and 90th percentile (linear interpolation) in seconds; incidents per state (by their
    first alert's start). Over several sites (no ``site``, no ``camera``, a user of more than
    one site) with more than :data:`EXACT_MAX` alerts in range, from the daily rollup instead
    (``source`` rollup: per site and day, whole days, binned times to acknowledge:
    domain/stats_rollup_read.py); else exact, from the alerts."""
    where = alert_filters(user, site=site, camera=camera, since=since, until=until)
    scope = Scope.of(user)
    sites = None if scope.sites is None else sorted(scope.sites)
    several = site is None and camera is None and scope.cameras is None
    if (
        several
        and (sites is None or len(sites) > 1)
        and capped_total(s, Alert, where, EXACT_MAX)[1]
    ):
        # thousands of rows: serialized once, not validated again on the way out (1 s)
        body = rollup_stats(s, sites, since, until).model_dump_json()
        return Response(body, media_type="application/json")
    by_state: dict[str, int] = dict.fromkeys(ALERT_STATES, 0)
    for state, n in s.execute(
        select(Alert.state, func.count()).where(*where).group_by(Alert.state)
    ):
        by_state[state] = n
    acked = s.execute(
        select(Alert.received_at, Alert.acknowledged_at).where(
            *where, Alert.acknowledged_at.is_not(None)
        )
    ).all()
    seconds = sorted(max(0.0, (a - r).total_seconds()) for r, a in acked if a is not None)
    incidents = _incidents_by_state(s, user, site, camera, since, until)
    out = StatsOut(
        per_day=_per_local_day(s, where),
        by_state=by_state,
        incidents_by_state=incidents,
        incidents=sum(incidents.values()),
        ack_seconds_median=percentile(seconds, 0.5),
        ack_seconds_p90=percentile(seconds, 0.9),
        acknowledged=len(seconds),
    )  # a site's month: ~3k rows of per_day, serialized once (not validated again on the way out)
    return Response(out.model_dump_json(), media_type="application/json")


def _incidents_by_state(
    s: Session,
    user: User,
    site: str | None,
    camera: str | None,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, int]:
    """Incidents per state whose first alert started in ``[since, until)``."""
    where = incident_filters(user, site=site, camera=camera)
    if since is not None:
        where.append(Incident.first_at >= since)
    if until is not None:
        where.append(Incident.first_at < until)
    counts: dict[str, int] = dict.fromkeys(ALERT_STATES, 0)
    for state, n in s.execute(
        select(Incident.state, func.count()).where(*where).group_by(Incident.state)
    ):
        counts[state] = n
    return counts


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values by linear interpolation (numpy's default);
    None for no values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _per_local_day(s: Session, where: Sequence[ColumnElement[bool]]) -> list[DayCount]:
    """Alerts per local day of their site, site, camera and rule, in that order. The database
    counts per UTC quarter hour (its own time zone support differs: SQLite has none); each
    quarter lies within one local day of every zone, as every zone's offset and every change
    of it falls on a quarter hour (Asia/Kathmandu is UTC+5:45)."""
    quarter = _utc_quarter_hour(s, Alert.started_at)
    rows = s.execute(
        select(quarter, Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(*where)
        .group_by(quarter, Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    zones = _site_zones(s, {site_id for _, site_id, _, _, _ in rows})
    counts: Counter[tuple[str, str, str, str]] = Counter()
    days: dict[tuple[int, str], str] = {}  # (quarter, site) -> day: shared by its cameras, rules
    for q, site_id, camera_id, rule, n in rows:
        day = days.get((q, site_id))
        if day is None:
            start = datetime.fromtimestamp(int(q) * QUARTER_HOUR_S, UTC)
            day = days[(q, site_id)] = start.astimezone(zones[site_id]).date().isoformat()
        counts[(day, site_id, camera_id, rule)] += n
    return [
        DayCount(day=d, site_id=si, camera_id=c, rule=r, count=n, timezone=str(zones[si]))
        for (d, si, c, r), n in sorted(counts.items())
    ]


def _site_zones(s: Session, site_ids: set[str]) -> dict[str, ZoneInfo]:
    """The time zone of each site: the one its edge reported, else UTC."""
    rows = s.execute(select(Site.id, Site.timezone).where(Site.id.in_(sorted(site_ids))))
    known = {site_id: zone for site_id, zone in rows}
    return {site_id: _zone(known.get(site_id)) for site_id in site_ids}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # not an IANA name (ingest checks it): count in UTC


def _utc_quarter_hour(s: Session, column: Any) -> ColumnElement[int]:
    """UTC quarter hours since 1970 of a stored time, in SQL, for either database."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", column) / QUARTER_HOUR_S), BigInteger)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; integer division
    return cast(func.strftime("%s", column), Integer) // QUARTER_HOUR_S

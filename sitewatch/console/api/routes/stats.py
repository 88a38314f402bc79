"""Statistics (violations per day per site, camera and rule; time to acknowledge; incidents per
state), limited to the user's sites."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.console.api.deps import DB, require
from sitewatch.console.domain.incident_views import incident_filters
from sitewatch.console.domain.queries import alert_filters, capped_total
from sitewatch.console.domain.stats_exact import ack_summary, per_local_day
from sitewatch.console.domain.stats_rollup_read import rollup_stats
from sitewatch.console.permissions import Scope
from sitewatch.console.schemas import StatsOut
from sitewatch.console.store.models import ALERT_STATES, Alert, Incident, User

router = APIRouter(prefix="/api", tags=["stats"])
EXACT_MAX = 10_000
"""Alerts in range up to which a view of several sites is counted exactly from the alerts
(as one site's month of a county is, ~10k alerts: docs/design/stats-rollup.md); above it,
from the rollup."""


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
    domain/stats_rollup_read.py); else exact, from the alerts (domain/stats_exact.py)."""
    where = alert_filters(user, site=site, camera=camera, since=since, until=until)
    scope = Scope.of(user)
    sites = None if scope.sites is None else sorted(scope.sites)
    several = site is None and camera is None and scope.cameras is None
    if (
        several
        and (sites is None or len(sites) > 1)
        and capped_total(s, Alert, where, EXACT_MAX)[1]
    ):
        # thousands of rows: serialized once, not validated again on the way out
        body = rollup_stats(s, sites, since, until).model_dump_json()
        return Response(body, media_type="application/json")
    by_state: dict[str, int] = dict.fromkeys(ALERT_STATES, 0)
    for state, n in s.execute(
        select(Alert.state, func.count()).where(*where).group_by(Alert.state)
    ):
        by_state[state] = n
    median, p90, acknowledged = ack_summary(s, where)
    incidents = _incidents_by_state(s, user, site, camera, since, until)
    in_view = [site] if site is not None else _scope_sites(scope)
    out = StatsOut(
        per_day=per_local_day(s, where, in_view),
        by_state=by_state,
        incidents_by_state=incidents,
        incidents=sum(incidents.values()),
        ack_seconds_median=median,
        ack_seconds_p90=p90,
        acknowledged=acknowledged,
    )  # a site's month: ~3k rows of per_day, serialized once (not validated again on the way out)
    return Response(out.model_dump_json(), media_type="application/json")


def _scope_sites(scope: Scope) -> list[str] | None:
    """The sites a user's alerts can be of (None: every site)."""
    if scope.cameras is not None:
        return sorted(scope.cameras)
    return None if scope.sites is None else sorted(scope.sites)


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

"""Statistics (violations per day per site, camera and rule; time to acknowledge) and the
audit log (chain of custody), both limited to the user's sites."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.deps import DB, check_site, require
from server.models import ALERT_STATES, Alert, AuditEntry, User
from server.queries import alert_filters, aware_param, scoped
from server.schemas import AuditOut, DayCount, StatsOut

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats")
def stats(
    user: Annotated[User, Depends(require("stats.read"))],
    s: DB,
    site: str | None = None,
    camera: str | None = None,
    since: Annotated[datetime | None, Query(description="started_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="started_at < until")] = None,
) -> StatsOut:
    """Alerts per UTC day, site, camera and rule (by ``started_at``); alerts per state; time
    to acknowledge = ``acknowledged_at - received_at`` (from the moment the console had it),
    median and 90th percentile (linear interpolation) in seconds."""
    where = alert_filters(user, site=site, camera=camera, since=since, until=until)
    day = _utc_day(s, Alert.started_at)
    per_day = s.execute(
        select(day, Alert.site_id, Alert.camera_id, Alert.rule, func.count())
        .where(*where)
        .group_by(day, Alert.site_id, Alert.camera_id, Alert.rule)
        .order_by(day, Alert.site_id, Alert.camera_id, Alert.rule)
    ).all()
    by_state = dict.fromkeys(ALERT_STATES, 0)
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
    return StatsOut(
        per_day=[
            DayCount(day=str(d), site_id=si, camera_id=c, rule=r, count=n)
            for d, si, c, r, n in per_day
        ],
        by_state=by_state,
        ack_seconds_median=percentile(seconds, 0.5),
        ack_seconds_p90=percentile(seconds, 0.9),
        acknowledged=len(seconds),
    )


@router.get("/audit")
def audit_log(
    user: Annotated[User, Depends(require("audit.read"))],
    s: DB,
    site: str | None = None,
    username: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditOut]:
    """Who viewed, downloaded or exported which evidence and who changed what, newest first.
    Entries without a site (logins, user changes) are shown to users of every site only;
    a user limited to cameras sees the entries of those cameras only."""
    stmt = scoped(select(AuditEntry), AuditEntry.site_id, user, AuditEntry.camera_id)
    if site is not None:
        check_site(user, site)
        stmt = stmt.where(AuditEntry.site_id == site)
    filters: dict[str, str | None] = {
        "username": username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, column) == value)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= aware_param(since, "since"))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < aware_param(until, "until"))
    rows = s.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return [AuditOut.model_validate(r) for r in rows]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values by linear interpolation (numpy's default);
    None for no values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _utc_day(s: Session, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD`` of a stored UTC time, in SQL, for either database."""
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC

"""Statistics (violations per day per site, camera and rule; time to acknowledge), limited to
the user's sites."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.deps import DB, require
from server.models import ALERT_STATES, Alert, User
from server.queries import alert_filters
from server.schemas import DayCount, StatsOut

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

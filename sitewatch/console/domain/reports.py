"""Daily and weekly reports: builds the record (:class:`report_records.Report`) for a site or
every site a user may see, which :mod:`report_xlsx` and :mod:`report_pdf` render.

A report covers local calendar days: a day, or the week (Monday to Sunday) holding a date, each
site's days in its own time zone (the one its edge reports, UTC while unknown), so sites in
different zones each count their own days. Alerts belong to the day of their ``started_at``.
Scoping is the alert queries' (:func:`queries.alert_filters`): a user limited to cameras
counts only those. Times to acknowledge and to close are taken from the alert actions, from
the moment the console had the alert (``received_at``), in seconds:
acknowledged = the first step out of ``new``; closed = the first step to resolved or false
positive. An alert is overdue when it was not acknowledged within ``overdue_after_min``
minutes (by ``generated_at`` if never). Cameras offline are the cameras' state as of
``generated_at`` (an offline edge takes its cameras with it), not a history. Incidents are
counted as the distinct incidents of the period's alerts (an alert in none counts as one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.errors import Invalid, NotFound
from sitewatch.console.domain.queries import alert_filters, site_filter
from sitewatch.console.domain.report_records import (
    PERIOD_DAYS,
    CameraCount,
    Durations,
    OfflineCamera,
    OverdueAlert,
    Period,
    Report,
    SiteWindow,
)
from sitewatch.console.permissions import Scope
from sitewatch.console.store.models import CLOSED_STATES, Alert, AlertAction, Camera, Site, User

OVERDUE_AFTER_MIN: Final = 30.0  # the API's default is the escalation's (settings)
UNHEALTHY_CAMERA_STATES: Final = ("offline", "stalled")
DAYS: Final = (date(2000, 1, 1), date(2999, 12, 31))  # far from the calendar's ends


def first_day_of(period: Period, day: date) -> date:
    """The first day of the period holding ``day``: itself, or the Monday of its week."""
    return day if period == "day" else day - timedelta(days=day.weekday())


def zone_of(name: str | None) -> ZoneInfo:
    """A site's zone: the IANA name its edge reported, else (or if unknown here) UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def report_sites(s: Session, user: User, site: str | None) -> list[Site]:
    """The sites a report of ``site`` (None: every one) covers, as far as ``user`` sees;
    :class:`NotFound` for a site outside their scope or unknown."""
    stmt = select(Site).order_by(Site.id)
    clause = site_filter(Site.id, user)
    if clause is not None:
        stmt = stmt.where(clause)
    if site is not None:
        stmt = stmt.where(Site.id == site)
    rows = list(s.scalars(stmt))
    if site is not None and not rows:
        raise NotFound(
            f"no site {site!r}: ask for one of your sites, or leave site out for all",
            code="scope.no_site",
            params={"site": site},
        )
    return rows


def build_report(
    s: Session,
    user: User,
    *,
    site: str | None,
    period: Period,
    day: date,
    generated_at: datetime,
    overdue_after_min: float = OVERDUE_AFTER_MIN,
) -> Report:
    """The report of the period holding ``day`` for ``site`` (None: all the user's sites);
    :class:`Invalid` for a day outside :data:`DAYS`."""
    if not DAYS[0] <= day <= DAYS[1]:
        raise Invalid(
            f"date {day.isoformat()} is outside the days reports cover "
            f"({DAYS[0].isoformat()} to {DAYS[1].isoformat()}): ask for a day of the alerts",
            code="report.bad_day",
            params={"day": day.isoformat()},
        )
    first, days = first_day_of(period, day), PERIOD_DAYS[period]
    windows: list[SiteWindow] = []
    rows: list[tuple[Alert, ZoneInfo]] = []
    for row in report_sites(s, user, site):
        zone = zone_of(row.timezone)
        start = datetime.combine(first, time(0), zone).astimezone(UTC)
        end = datetime.combine(first + timedelta(days=days), time(0), zone).astimezone(UTC)
        windows.append(SiteWindow(row.id, row.name or row.id, str(zone), start, end))
        where = alert_filters(user, site=row.id, since=start, until=end)
        rows += [(a, zone) for a in s.scalars(select(Alert).where(*where))]
    alerts = [a for a, _ in rows]
    acked, closed = _first_steps(s, [a.id for a in alerts])
    names = _camera_names(s, {(a.site_id, a.camera_id) for a in alerts})
    cams = Counter((a.site_id, a.camera_id) for a in alerts)
    hours, per_day = [0] * 24, Counter[date]()
    for a, zone in rows:
        local = a.started_at.astimezone(zone)
        hours[local.hour] += 1
        per_day[local.date()] += 1
    ack_s = sorted(_seconds(a.received_at, acked[a.id]) for a in alerts if a.id in acked)
    close_s = sorted(_seconds(a.received_at, closed[a.id]) for a in alerts if a.id in closed)
    overdue = _overdue(rows, acked, generated_at, overdue_after_min)
    incident_of = {a.id: a.incident_id or a.id for a in alerts}
    return Report(
        period=period,
        first_day=first,
        days=days,
        generated_at=generated_at,
        overdue_after_min=overdue_after_min,
        sites=tuple(windows),
        total=len(alerts),
        incidents=len(set(incident_of.values())),
        overdue_incidents=len({incident_of[o.alert_id] for o in overdue}),
        by_camera=tuple(
            CameraCount(si, ci, names.get((si, ci), ci), n)
            for (si, ci), n in sorted(cams.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        by_rule=_most_first(Counter(a.rule for a in alerts)),
        by_hour=tuple(hours),
        by_day=tuple((d, per_day[d]) for d in (first + timedelta(days=i) for i in range(days))),
        by_state=_most_first(Counter(a.state for a in alerts)),
        acknowledge=durations(ack_s),
        close=durations(close_s),
        overdue=overdue,
        offline=_offline(s, user, [w.site_id for w in windows]),
    )


def durations(sorted_seconds: Sequence[float]) -> Durations:
    return Durations(
        len(sorted_seconds), percentile(sorted_seconds, 0.5), percentile(sorted_seconds, 0.9)
    )


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation (numpy's default); None if empty."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _seconds(since: datetime, at: datetime) -> float:
    return max(0.0, (at - since).total_seconds())


def _most_first(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _first_steps(
    s: Session, alert_ids: list[str]
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """alert id → time of its first step out of ``new``, and of its first closing step."""
    acked: dict[str, datetime] = {}
    closed: dict[str, datetime] = {}
    for i in range(0, len(alert_ids), 500):  # bounded IN lists, for either database
        chunk = alert_ids[i : i + 500]
        for alert_id, at, action, from_state, to_state in s.execute(
            select(
                AlertAction.alert_id,
                AlertAction.at,
                AlertAction.action,
                AlertAction.from_state,
                AlertAction.to_state,
            )
            .where(AlertAction.alert_id.in_(chunk))
            .order_by(AlertAction.at, AlertAction.id)
        ):
            if action != "note" and from_state == "new":
                acked.setdefault(alert_id, at)
            if to_state in CLOSED_STATES:
                closed.setdefault(alert_id, at)
    return acked, closed


def _camera_names(s: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    sites = sorted({site for site, _ in keys})
    if not sites:
        return {}
    rows = s.execute(
        select(Camera.site_id, Camera.camera_id, Camera.name).where(Camera.site_id.in_(sites))
    )
    return {(si, ci): name or ci for si, ci, name in rows}


def _overdue(
    rows: list[tuple[Alert, ZoneInfo]],
    acked: dict[str, datetime],
    now: datetime,
    after_min: float,
) -> tuple[OverdueAlert, ...]:
    late: list[OverdueAlert] = []
    for a, zone in rows:
        waited = _seconds(a.received_at, acked.get(a.id, now)) / 60
        if waited > after_min:
            late.append(
                OverdueAlert(
                    a.id, a.site_id, a.camera_id, a.rule, a.started_at.astimezone(zone),
                    a.state, a.id in acked, round(waited, 1),
                )
            )  # fmt: skip
    return tuple(sorted(late, key=lambda o: (o.started_local.astimezone(UTC), o.alert_id)))


def _offline(s: Session, user: User, site_ids: list[str]) -> tuple[OfflineCamera, ...]:
    if not site_ids:
        return ()
    scope = Scope.of(user)
    edge_offline = set(
        s.scalars(select(Site.id).where(Site.id.in_(site_ids), Site.edge_state == "offline"))
    )
    out: list[OfflineCamera] = []
    cameras = s.scalars(
        select(Camera)
        .where(Camera.site_id.in_(site_ids))
        .order_by(Camera.site_id, Camera.camera_id)
    )
    for c in cameras:
        state = "offline" if c.site_id in edge_offline else c.state
        if state in UNHEALTHY_CAMERA_STATES and scope.camera(c.site_id, c.camera_id):
            out.append(
                OfflineCamera(
                    c.site_id, c.camera_id, c.name or c.camera_id, state, c.status_at, c.error
                )
            )
    return tuple(out)

"""Statistics over several sites read from the rollup (:mod:`.stats_rollup`) instead of the
alerts: what ``GET /api/stats`` answers when the range spans more than one site and no camera.

The answer differs from the exact one (api/routes/stats.py) in three stated ways
(``StatsOut.source == "rollup"``; why: docs/design/stats-rollup.md, "What the API answers"):
``per_day`` has one row per local day and rule summed over the sites (``site_id`` and
``camera_id`` empty), ``per_site`` one per site and rule over the whole range; the range is
widened to whole local days of each site it touches; the median and 90th percentile of the
time to acknowledge are read from the histogram (:data:`.stats_rollup_tables.BINS_PER_OCTAVE` bins
per doubling, linear within the bin the rank falls in: within one bin, 19 %, of the exact
value), summed over sites (``stats_ack_all_days``) for every site's view when the sites share
their first and last local day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, tuple_
from sqlalchemy.orm import Session

from sitewatch.console.domain.stats_rollup_tables import (
    AckAllDay,
    AckDay,
    AlertDay,
    IncidentDay,
    bin_edges,
    local_day,
    zone,
)
from sitewatch.console.schemas import DayCount, SiteCount, StatsOut
from sitewatch.console.store.models import ALERT_STATES, Site

ACK_RESOLUTION = 2 ** (1 / 4) - 1
"""Relative width of a histogram bin (0.189): the binned percentiles' resolution."""


def rollup_stats(
    s: Session, sites: list[str] | None, since: datetime | None, until: datetime | None
) -> StatsOut:
    """The statistics of ``sites`` (None: every site) from the rollup: ``per_day`` per day and
    rule summed over the sites, ``per_site`` per site and rule over the range."""
    zones = _zones(s, sites)
    parts = {t: _parts(t, zones, sites, since, until) for t in (AlertDay, AckDay, IncidentDay)}
    day_rule_n: Counter[tuple[str, str]] = Counter()
    by_state: dict[str, int] = dict.fromkeys(ALERT_STATES, 0)
    per_site: dict[tuple[str, str], int] = defaultdict(int)
    for where in parts[AlertDay]:
        day_rule, site_rule_state = _alert_totals(s, where)
        for day, rule, n in day_rule:
            day_rule_n[(day, rule)] += n
        for site_id, rule, state, n in site_rule_state:
            by_state[state] = by_state.get(state, 0) + n
            per_site[(site_id, rule)] += n
    incidents: Counter[str] = Counter(dict.fromkeys(ALERT_STATES, 0))
    for where in parts[IncidentDay]:
        incidents.update(_per_state(s, IncidentDay, where))
    bins = _ack_bins(s, zones, sites, since, until, parts[AckDay])
    names = {str(z) for z in zones.values()}
    shared = names.pop() if len(names) == 1 else ""
    return StatsOut(
        per_day=[
            DayCount(day=day, site_id="", camera_id="", rule=rule, count=int(n), timezone=shared)
            for (day, rule), n in sorted(day_rule_n.items())
            if n
        ],
        per_site=[
            SiteCount(site_id=site_id, rule=rule, count=n)
            for (site_id, rule), n in sorted(per_site.items())
            if n
        ],
        by_state=by_state,
        incidents_by_state=dict(incidents),
        incidents=sum(incidents.values()),
        ack_seconds_median=binned_percentile(bins, 0.5),
        ack_seconds_p90=binned_percentile(bins, 0.9),
        acknowledged=sum(n for _, n in bins),
        source="rollup",
        ack_resolution=round(ACK_RESOLUTION, 3),
    )


def _alert_totals(
    s: Session, where: ColumnElement[bool]
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, str, int]]]:
    """Alerts per (day, rule), in that order, and per (site, rule, state) in range: one read
    of the range on PostgreSQL (``GROUPING SETS``), two on SQLite (which has none)."""
    a = AlertDay
    if s.get_bind().dialect.name == "postgresql":
        sets = func.grouping_sets(tuple_(a.day, a.rule), tuple_(a.site_id, a.rule, a.state))
        rows = s.execute(
            select(a.day, a.site_id, a.rule, a.state, func.sum(a.n)).where(where).group_by(sets)
        ).all()  # site_id is NULL exactly in the (day, rule) set's rows
        return (
            sorted((day, rule, int(n)) for day, site, rule, _, n in rows if site is None),
            [(site, rule, state, int(n)) for _, site, rule, state, n in rows if site is not None],
        )
    day_rule = s.execute(
        select(a.day, a.rule, func.sum(a.n))
        .where(where)
        .group_by(a.day, a.rule)
        .order_by(a.day, a.rule)
    ).all()
    site_rule_state = s.execute(
        select(a.site_id, a.rule, a.state, func.sum(a.n))
        .where(where)
        .group_by(a.site_id, a.rule, a.state)
    ).all()
    return (
        [(day, rule, int(n)) for day, rule, n in day_rule],
        [(site, rule, state, int(n)) for site, rule, state, n in site_rule_state],
    )


def _ack_bins(
    s: Session,
    zones: dict[str, Any],
    sites: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    per_site: list[ColumnElement[bool]],
) -> list[tuple[int, int]]:
    """The acknowledgement histogram ``[(bin, n)]`` of the view. Every site: the days all
    sites' ranges share from the sum over sites (``stats_ack_all_days``, ~50 rows a day), the
    other days (``per_site[1:]``, see :func:`_parts`) from the per-site rows; else from the
    per-site rows (``per_site``: WHEREs of disjoint parts)."""
    wheres: list[tuple[Any, ColumnElement[bool]]] = [(AckDay, w) for w in per_site]
    if sites is None:
        core = _core(zones, since, until)
        wheres[0] = (AckAllDay, and_(true(), *_day_range(AckAllDay, *core)))
    counts: Counter[int] = Counter()
    for table, where in wheres:
        for b, n in s.execute(
            select(table.bin, func.sum(table.n)).where(where).group_by(table.bin)
        ):
            counts[int(b)] += int(n)
    return [(b, n) for b, n in sorted(counts.items()) if n]


def _core(zones: dict[str, Any], since: datetime | None, until: datetime | None) -> Bounds:
    """The local days that every site's range covers (sites without a row count in UTC): the
    latest first day and the earliest last day (None: open)."""
    bounds = {_bounds(tz, since, until) for tz in zones.values()} | {
        _bounds(zone(None), since, until)
    }
    firsts = [f for f, _ in bounds if f is not None]
    lasts = [x for _, x in bounds if x is not None]
    return (max(firsts) if firsts else None), (min(lasts) if lasts else None)


def _parts(
    table: Any,
    zones: dict[str, Any],
    sites: list[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """WHEREs on ``table`` of disjoint parts that together make :func:`_days`. Every site: the
    days every site's range covers, without a list of sites (an index range), then, when sites
    in other zones start or end on another day, the remaining days of each site (a day or two
    at each end: a few thousand rows where the list of sites is checked); else one part."""
    every = _days(table, zones, sites, since, until)
    if sites is None:
        first, last = _core(zones, since, until)
        core = and_(true(), *_day_range(table, first, last))
        outside = [table.day < first] if first is not None else []
        outside += [table.day > last] if last is not None else []
        groups = {_bounds(tz, since, until) for tz in zones.values()}
        if len(groups | {_bounds(zone(None), since, until)}) == 1 or not outside:
            return [core]
        return [core, and_(every, or_(*outside))]
    return [every]


def _per_state(s: Session, table: Any, where: ColumnElement[bool]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(ALERT_STATES, 0)
    for state, n in s.execute(
        select(table.state, func.sum(table.n)).where(where).group_by(table.state)
    ):
        counts[state] = int(n)
    return counts


def binned_percentile(bins: list[tuple[int, int]], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram ``[(bin, count)]``: the rank ``q * (N - 1)``
    (as the exact linear interpolation's) placed linearly within its bin; None when empty."""
    total = sum(n for _, n in bins)
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for b, n in sorted(bins):
        if rank < seen + n:
            low, high = bin_edges(b)
            return low + (high - low) * (rank - seen + 0.5) / n
        seen += n
    low, high = bin_edges(max(b for b, _ in bins))
    return high


def _zones(s: Session, sites: list[str] | None) -> dict[str, Any]:
    """The zone of each site in range (every site with a row when ``sites`` is None)."""
    stmt = select(Site.id, Site.timezone)
    if sites is not None:
        stmt = stmt.where(Site.id.in_(sites))
    known = {site_id: zone(name) for site_id, name in s.execute(stmt)}
    for site_id in sites or ():
        known.setdefault(site_id, zone(None))
    return known


Bounds = tuple[str | None, str | None]  # first and last local day, None: open


@lru_cache(maxsize=1024)
def _bounds(tz: Any, since: datetime | None, until: datetime | None) -> Bounds:
    first = None if since is None else local_day(since, tz)
    last = None if until is None else local_day(until - timedelta(microseconds=1), tz)
    return first, last


def _day_range(table: Any, first: str | None, last: str | None) -> list[ColumnElement[bool]]:
    """``first <= day <= last`` on ``table`` (None: open)."""
    out: list[ColumnElement[bool]] = []
    if first is not None:
        out.append(table.day >= first)
    if last is not None:
        out.append(table.day <= last)
    return out


def _days(
    table: Any,
    zones: dict[str, Any],
    sites: list[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> ColumnElement[bool]:
    """WHERE on ``table``: the sites' local days that ``[since, until)`` touches. Sites whose
    zones give the same first and last day share one clause (a county is usually one: a
    range of the primary key's leading ``day``, no list of sites when it spans them all);
    sites without a row count in UTC."""
    groups: dict[Bounds, list[str]] = defaultdict(list)
    for site_id, tz in zones.items():
        groups[_bounds(tz, since, until)].append(site_id)
    utc = _bounds(zone(None), since, until)
    if sites is None:
        groups.setdefault(utc, [])
    clauses = []
    for (first, last), ids in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        parts = _day_range(table, first, last)
        if sites is not None:
            parts.append(table.site_id.in_(sorted(ids)))
        elif len(groups) > 1:  # every site: the others' sites, or (UTC) none of the others'
            others = sorted(x for b, group in groups.items() if b != (first, last) for x in group)
            who = table.site_id.not_in(others) if (first, last) == utc else table.site_id.in_(ids)
            parts.append(who)
        clauses.append(and_(*parts) if parts else table.site_id.is_not(None))
    if not clauses:
        return false()
    lows = [b[0] for b in groups]
    highs = [b[1] for b in groups]
    if len(clauses) > 1 and None not in lows and None not in highs:  # an index range first
        span = and_(table.day >= min(lows), table.day <= max(highs))  # type: ignore[type-var]
        return and_(span, or_(*clauses))
    return or_(*clauses)

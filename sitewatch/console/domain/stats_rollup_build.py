"""Recounting the statistics rollup (:mod:`sitewatch.console.domain.stats_rollup`) from the alerts
and incidents themselves: migration 0015's backfill (every site) and a site whose time zone
changed (its local days move); the sum over sites of the acknowledgement histogram
(``stats_ack_all_days``, migration 0018) is recounted from the per-site rows after either. The
database groups by local day: PostgreSQL with ``AT TIME ZONE`` (one statement per zone), SQLite
with two functions this module registers on the connection (Python's zoneinfo and the histogram
bin), so both count exactly as the flush does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Numeric,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    inspect,
    literal,
    select,
)

from sitewatch.console.domain.stats_rollup_tables import (
    BINS_PER_OCTAVE,
    LAST_BIN,
    AckAllDay,
    AckDay,
    AlertDay,
    IncidentDay,
    ack_bin,
    local_day,
    zone,
)
from sitewatch.console.store.models import Alert, Incident, Site


def rebuild(conn: Connection, site_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Replace the rollup rows of ``site_ids`` (None: every site) by a recount; rows written
    per table."""
    pg = conn.dialect.name == "postgresql"
    if not pg:
        _register_sqlite(conn)
    for table in (AlertDay, AckDay, IncidentDay):
        stmt = delete(table)
        if site_ids is not None:
            stmt = stmt.where(table.site_id.in_(list(site_ids)))
        conn.execute(stmt)
    written = {"alert": 0, "ack": 0, "incident": 0}
    for tz_name, where_alert, where_incident in _zone_groups(conn, site_ids):
        a_day = _day(pg, Alert.started_at, tz_name)
        i_day = _day(pg, Incident.first_at, tz_name)
        b = _bin(pg)
        groups: list[tuple[Any, Any, list[Any]]] = [
            (AlertDay, select(a_day, Alert.site_id, Alert.rule, Alert.state, func.count())
             .where(where_alert).group_by(a_day, Alert.site_id, Alert.rule, Alert.state),
             ["day", "site_id", "rule", "state", "n"]),
            (AckDay, select(a_day, Alert.site_id, b, func.count())
             .where(where_alert, Alert.acknowledged_at.is_not(None))
             .group_by(a_day, Alert.site_id, b), ["day", "site_id", "bin", "n"]),
            (IncidentDay, select(i_day, Incident.site_id, Incident.state, func.count())
             .where(where_incident).group_by(i_day, Incident.site_id, Incident.state),
             ["day", "site_id", "state", "n"]),
        ]  # fmt: skip
        for table, stmt, names in groups:
            rows = [dict(zip(names, r, strict=True)) for r in conn.execute(stmt)]
            if rows:
                conn.execute(insert(table), rows)
            written[{AlertDay: "alert", AckDay: "ack", IncidentDay: "incident"}[table]] += len(rows)
    if inspect(conn).has_table(AckAllDay.__tablename__):  # migration 0015 runs before 0018
        written["ack_all"] = sum_ack_over_sites(conn)
    return written


def sum_ack_over_sites(conn: Connection) -> int:
    """Replace ``stats_ack_all_days`` by ``stats_ack_days`` summed over sites (every day: a
    site's zone change can move any of its days); rows written. A county's history (~2 M rows
    of ``stats_ack_days``) takes seconds; it runs at the migration and when a site's zone
    changes (its edge reports one: rare)."""
    conn.execute(delete(AckAllDay))
    summed = (
        select(AckDay.day, AckDay.bin, func.sum(AckDay.n))
        .group_by(AckDay.day, AckDay.bin)
        .having(func.sum(AckDay.n) != 0)
    )
    conn.execute(insert(AckAllDay).from_select(["day", "bin", "n"], summed))
    return int(conn.scalar(select(func.count()).select_from(AckAllDay)) or 0)


def _zone_groups(
    conn: Connection, site_ids: Sequence[str] | None
) -> list[tuple[str, ColumnElement[bool], ColumnElement[bool]]]:
    """(zone name, WHERE on alerts, WHERE on incidents) per zone of the sites: sites without a
    row, without a zone or with an unknown one count in UTC."""
    rows = conn.execute(select(Site.id, Site.timezone)).all()
    by_zone: dict[str, list[str]] = defaultdict(list)
    for site_id, name in rows:
        by_zone[str(zone(name))].append(site_id)
    wanted = None if site_ids is None else set(site_ids)
    out: list[tuple[str, ColumnElement[bool], ColumnElement[bool]]] = []
    zoned = sorted(s for z, sites in by_zone.items() if z != "UTC" for s in sites)
    for tz_name, sites in sorted(by_zone.items()):
        if tz_name == "UTC":
            continue
        mine = sorted(s for s in sites if wanted is None or s in wanted)
        if mine:
            out.append((tz_name, Alert.site_id.in_(mine), Incident.site_id.in_(mine)))
    if wanted is None:
        out.append(("UTC", Alert.site_id.not_in(zoned), Incident.site_id.not_in(zoned)))
    else:
        utc = sorted(wanted - set(zoned))
        if utc:
            out.append(("UTC", Alert.site_id.in_(utc), Incident.site_id.in_(utc)))
    return out


def _day(pg: bool, column: Any, tz_name: str) -> ColumnElement[str]:
    if pg:
        return func.to_char(func.timezone(literal(tz_name), column), "YYYY-MM-DD")
    return func.sw_local_day(column, tz_name)


def _bin(pg: bool) -> ColumnElement[int]:
    """The histogram bin of ``acknowledged_at - received_at`` in SQL, as :func:`ack_bin`
    (PostgreSQL: numeric ``log``, exact at whole powers of two as Python's ``log2``)."""
    if not pg:
        return func.sw_ack_bin(Alert.received_at, Alert.acknowledged_at)
    secs = cast(extract("epoch", Alert.acknowledged_at - Alert.received_at), Numeric)
    octaves = func.log(cast(literal(2), Numeric), secs)
    binned = func.least(LAST_BIN, 1 + cast(func.floor(BINS_PER_OCTAVE * octaves), Integer))
    return case((secs < 1, 0), else_=binned)


def _register_sqlite(conn: Connection) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.create_function("sw_local_day", 2, _sqlite_day, deterministic=True)
    raw.create_function("sw_ack_bin", 2, _sqlite_bin, deterministic=True)


def _parse(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _sqlite_day(value: str | None, tz_name: str) -> str | None:
    return None if value is None else local_day(_parse(value), zone(tz_name))


def _sqlite_bin(received: str | None, acknowledged: str | None) -> int | None:
    if received is None or acknowledged is None:
        return None
    return ack_bin((_parse(acknowledged) - _parse(received)).total_seconds())

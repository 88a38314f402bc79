"""The statistics rollup: alerts and incidents counted per site and local day, kept in the same
transaction as every change to them, so a statistics view over many sites reads thousands of
rows instead of millions of alerts (tables, rationale: docs/design/stats-rollup.md).

Tables: ``stats_alert_days`` (day, site_id, rule, state), ``stats_ack_days`` (day, site_id,
bin of ``acknowledged_at - received_at`` in seconds, :func:`ack_bin`), ``stats_incident_days``
(day, site_id, state), ``stats_ack_all_days`` (day, bin: ``stats_ack_days`` summed over sites),
each -> ``n``. ``day`` is ``YYYY-MM-DD`` in the site's zone (``sites.timezone``, else UTC).

Invariant: for every key, ``n`` equals the count of the rows it summarises. Kept by an
``after_flush`` listener on every ORM session (inserts, changes, deletes of alerts and
incidents; a site's zone change recounts it) and by :func:`alert_moved` /
:func:`incident_moved`, which code changing these columns with core ``UPDATE``s must call.
Deltas are upserts in the caller's transaction, keys in sorted order (no deadlock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sitewatch.console.domain.stats_rollup_build import rebuild
from sitewatch.console.domain.stats_rollup_tables import (
    KEYS,
    TABLES,
    Key,
    ack_bin,
    local_day,
    zone,
)
from sitewatch.console.store.models import Alert, Incident, Site


@dataclass(frozen=True)
class AlertFacts:
    """What an alert contributes to the rollup."""

    site_id: str
    started_at: datetime
    rule: str
    state: str
    received_at: datetime | None
    acknowledged_at: datetime | None


def alert_keys(f: AlertFacts, tz: ZoneInfo) -> list[Key]:
    day = local_day(f.started_at, tz)
    keys: list[Key] = [("alert", (day, f.site_id, f.rule, f.state))]
    if f.acknowledged_at is not None and f.received_at is not None:
        seconds = (f.acknowledged_at - f.received_at).total_seconds()
        keys.append(("ack", (day, f.site_id, ack_bin(seconds))))
    return keys


def incident_key(site_id: str, first_at: datetime, state: str, tz: ZoneInfo) -> Key:
    return ("incident", (local_day(first_at, tz), site_id, state))


def site_zones(conn: Connection | Session, site_ids: Iterable[str]) -> dict[str, ZoneInfo]:
    ids = sorted(set(site_ids))
    rows = conn.execute(select(Site.id, Site.timezone).where(Site.id.in_(ids))).all() if ids else []
    known = {site_id: name for site_id, name in rows}
    return {site_id: zone(known.get(site_id)) for site_id in ids}


def write(conn: Connection | Session, deltas: Counter[Key]) -> None:
    """Add ``deltas`` to the rollup: one upsert per changed key, in key order; each ``ack``
    delta is added to its ``ack_all`` (day, bin) row too."""
    pg = conn.get_bind().dialect.name == "postgresql" if isinstance(conn, Session) else (
        conn.dialect.name == "postgresql")  # fmt: skip
    insert = pg_insert if pg else sqlite_insert
    everything = Counter(deltas)
    for (name, values), n in deltas.items():
        if name == "ack":
            everything[("ack_all", (values[0], values[2]))] += n
    for (name, values), n in sorted(everything.items()):
        if n == 0:
            continue
        table = TABLES[name].__table__
        stmt = insert(table).values({**dict(zip(KEYS[name], values, strict=True)), "n": n})
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEYS[name]), set_={"n": table.c.n + stmt.excluded.n}
        )
        conn.execute(stmt)


def alert_moved(s: Session, alert: Alert, state: str, acknowledged_at: datetime | None) -> None:
    """After a core UPDATE set ``alert``'s state and acknowledgement time (the object still
    holds the old values): move its count."""
    old = facts_of(alert)
    new = AlertFacts(old.site_id, old.started_at, old.rule, state, old.received_at,
                     acknowledged_at)  # fmt: skip
    tz = site_zones(s, [alert.site_id])[alert.site_id]
    deltas: Counter[Key] = Counter(alert_keys(new, tz))
    deltas.subtract(alert_keys(old, tz))
    write(s, deltas)


def incident_moved(s: Session, incident: Incident, state: str) -> None:
    """After a core UPDATE set ``incident``'s state (the object holds the old one)."""
    tz = site_zones(s, [incident.site_id])[incident.site_id]
    deltas: Counter[Key] = Counter([incident_key(incident.site_id, incident.first_at, state, tz)])
    deltas[incident_key(incident.site_id, incident.first_at, incident.state, tz)] -= 1
    write(s, deltas)


def facts_of(alert: Alert) -> AlertFacts:
    return AlertFacts(alert.site_id, alert.started_at, alert.rule, alert.state,
                      alert.received_at, alert.acknowledged_at)  # fmt: skip


ALERT_COLUMNS = ("site_id", "started_at", "rule", "state", "received_at", "acknowledged_at")
INCIDENT_COLUMNS = ("site_id", "first_at", "state")


def _before(obj: Any, columns: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """An object's values before this flush, and whether any of ``columns`` changed."""
    state = inspect(obj)
    values, changed = {}, False
    for name in columns:
        h = state.attrs[name].history
        if h.deleted:
            values[name], changed = h.deleted[0], True
        elif h.unchanged:
            values[name] = h.unchanged[0]
        else:  # set without a known old value (see _active_history), or never loaded
            values[name] = getattr(obj, name)
            changed = changed or bool(h.added)
    return values, changed


def _after_flush(s: Session, _context: Any) -> None:
    """Turn the flush's inserts, changes and deletes of alerts and incidents into deltas."""
    plus: list[tuple[str, Any]] = []  # ("alert" | "incident", facts), counted +1
    minus: list[tuple[str, Any]] = []
    rezoned: set[str] = set()
    for obj in s.new:
        if isinstance(obj, Alert):
            plus.append(("alert", facts_of(obj)))
        elif isinstance(obj, Incident):
            plus.append(("incident", (obj.site_id, obj.first_at, obj.state)))
    for obj in s.dirty:
        if isinstance(obj, Alert):
            old, changed = _before(obj, ALERT_COLUMNS)
            if changed:
                minus.append(("alert", AlertFacts(**old)))
                plus.append(("alert", facts_of(obj)))
        elif isinstance(obj, Incident):
            old, changed = _before(obj, INCIDENT_COLUMNS)
            if changed:
                minus.append(("incident", (old["site_id"], old["first_at"], old["state"])))
                plus.append(("incident", (obj.site_id, obj.first_at, obj.state)))
        elif isinstance(obj, Site) and inspect(obj).attrs.timezone.history.deleted:
            rezoned.add(obj.id)
    for obj in s.deleted:
        if isinstance(obj, Alert):
            minus.append(("alert", AlertFacts(**_before(obj, ALERT_COLUMNS)[0])))
        elif isinstance(obj, Incident):
            old = _before(obj, INCIDENT_COLUMNS)[0]
            minus.append(("incident", (old["site_id"], old["first_at"], old["state"])))
    if plus or minus:
        _apply(s, plus, minus)
    if rezoned:
        rebuild(s.connection(), sorted(rezoned))


def _apply(s: Session, plus: list[tuple[str, Any]], minus: list[tuple[str, Any]]) -> None:
    sites = {f.site_id if kind == "alert" else f[0] for kind, f in plus + minus}
    zones = site_zones(s.connection(), sites)
    deltas: Counter[Key] = Counter()
    for sign, items in ((1, plus), (-1, minus)):
        for kind, f in items:
            if kind == "alert":
                keys = alert_keys(f, zones[f.site_id])
            else:
                keys = [incident_key(f[0], f[1], f[2], zones[f[0]])]
            for key in keys:
                deltas[key] += sign
    write(s.connection(), deltas)


def _active_history(*_args: Any) -> None:
    """A no-op ``set`` listener registered with ``active_history``: setting one of these
    columns loads its old value first, so a flush knows which key to take the alert from."""


for _column in ALERT_COLUMNS:
    event.listen(getattr(Alert, _column), "set", _active_history, active_history=True)
for _column in INCIDENT_COLUMNS:
    event.listen(getattr(Incident, _column), "set", _active_history, active_history=True)
event.listen(Site.timezone, "set", _active_history, active_history=True)
event.listen(Session, "after_flush", _after_flush)

"""The statistics rollup (domain/stats_rollup.py) against a direct count of the alerts and
incidents, on SQLite and PostgreSQL: after inserts, workflow steps through the API (alerts and
incidents), an ingest-style change of an alert's start, a site's time zone change, and a
recount from scratch (migration 0015's backfill); and what GET /api/stats answers from it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sitewatch.console.domain.incidents import Windows, group_alert
from sitewatch.console.domain.stats_rollup import (
    alert_keys,
    facts_of,
    incident_key,
    site_zones,
)
from sitewatch.console.domain.stats_rollup_build import rebuild
from sitewatch.console.domain.stats_rollup_tables import (
    AckAllDay,
    AckDay,
    AlertDay,
    IncidentDay,
)
from sitewatch.console.store.models import Alert, Incident, Site
from tests.support.console_support import Console, add_users, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

ZONES = {"north": "Asia/Kathmandu", "south": "America/New_York"}  # UTC+5:45, UTC-5/-4
BASE = datetime(2026, 11, 1, 18, 10, tzinfo=UTC)  # north's 23:55 local: near its midnight


def direct(console: Console) -> dict[str, Counter[Any]]:
    """What the rollup should hold, counted from the rows themselves."""
    want: dict[str, Counter[Any]] = {"alert": Counter(), "ack": Counter(), "incident": Counter(),
                                     "ack_all": Counter()}  # fmt: skip
    with console.state.db.session() as s:
        alerts = s.scalars(select(Alert)).all()
        incidents = s.scalars(select(Incident)).all()
        zones = site_zones(s, [a.site_id for a in alerts] + [i.site_id for i in incidents])
        for a in alerts:
            for name, key in alert_keys(facts_of(a), zones[a.site_id]):
                want[name][key] += 1
        for i in incidents:
            name, key = incident_key(i.site_id, i.first_at, i.state, zones[i.site_id])
            want[name][key] += 1
    for (day, _site, b), n in want["ack"].items():  # the histogram summed over sites
        want["ack_all"][(day, b)] += n
    return want


def stored(console: Console) -> dict[str, Counter[Any]]:
    """The rollup's rows (zero counts left by decrements dropped)."""
    got: dict[str, Counter[Any]] = {}
    with console.state.db.session() as s:
        for name, table, cols in (
            ("alert", AlertDay, ("day", "site_id", "rule", "state")),
            ("ack", AckDay, ("day", "site_id", "bin")),
            ("ack_all", AckAllDay, ("day", "bin")),
            ("incident", IncidentDay, ("day", "site_id", "state")),
        ):
            got[name] = Counter()
            for row in s.scalars(select(table)):
                if row.n:
                    got[name][tuple(getattr(row, c) for c in cols)] = row.n
    return got


def seed(console: Console) -> list[str]:
    """Two sites in two zones; alerts either side of north's midnight, some acknowledged;
    each grouped into its incident as ingest does."""
    with console.state.db.session() as s:
        for site, tz in ZONES.items():
            s.add(Site(id=site, name=site, edge_state="online", timezone=tz))
    ids = []
    for i in range(12):
        site = "north" if i % 3 else "south"
        started = BASE + timedelta(minutes=3 * i, hours=10 * (i % 2))
        acked = started + timedelta(seconds=2**i) if i % 4 == 1 else None
        ids.append(
            seed_alert(
                console, site, f"cam{i % 2}", rule="smoking" if i % 5 == 0 else "no_helmet",
                started_at=started, received_at=started + timedelta(seconds=1),
                state="acknowledged" if acked else "new", acknowledged_at=acked,
            )
        )  # fmt: skip
    with console.state.db.session() as s:
        for alert_id in ids:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            group_alert(s, alert, Windows(default_s=600), now=BASE + timedelta(days=1))
            s.flush()
    return ids


def test_the_rollup_matches_a_direct_count(console: Console) -> None:
    ids = seed(console)
    assert stored(console) == direct(console)
    assert sum(stored(console)["ack"].values()) == 3

    add_users(console, ("boss", "admin", ["*"]))
    boss = console.login("boss")
    for alert_id, action in ((ids[0], "acknowledge"), (ids[2], "resolve"), (ids[3], "resolve"),
                             (ids[4], "false_positive"), (ids[3], "reopen")):  # fmt: skip
        r = boss.post(f"/api/alerts/{alert_id}/actions", json={"action": action})
        assert r.status_code == 200, r.text
    assert stored(console) == direct(console)

    incidents = boss.get("/api/incidents", params={"state": ["new", "acknowledged"]}).json()
    incident_id = incidents["items"][0]["id"]
    r = boss.post(f"/api/incidents/{incident_id}/actions", json={"action": "resolve"})
    assert r.status_code == 200, r.text
    assert stored(console) == direct(console)

    with console.state.db.session() as s:  # a newer message moves a new alert's start
        alert = s.get(Alert, ids[5])
        assert alert is not None
        alert.started_at = alert.started_at - timedelta(hours=20)
        alert.rule = "restricted_zone"
    assert stored(console) == direct(console)

    with console.state.db.session() as s:  # the edge reports another zone: days move
        site = s.get(Site, "north")
        assert site is not None
        site.timezone = "Pacific/Chatham"
    assert stored(console) == direct(console)

    before = stored(console)
    with console.state.db.engine.begin() as conn:  # the migration's backfill
        written = rebuild(conn)
    assert written["alert"] == len(before["alert"])
    assert stored(console) == before == direct(console)


def exact(client: Any, **params: str) -> dict[str, Any]:
    r = client.get("/api/stats", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    assert out["source"] == "alerts"
    return out


def per_day_rule(per_day: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Violations per (day, rule), over sites and cameras."""
    out: Counter[tuple[str, str]] = Counter()
    for d in per_day:
        out[(d["day"], d["rule"])] += d["count"]
    return out


def per_site_rule(per_day: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Violations per (site, rule), over days and cameras."""
    out: Counter[tuple[str, str]] = Counter()
    for d in per_day:
        out[(d["site_id"], d["rule"])] += d["count"]
    return out


def test_a_view_of_several_sites_reads_the_rollup(console: Console, monkeypatch: Any) -> None:
    from sitewatch.console.api.routes import stats as stats_route

    ids = seed(console)
    add_users(console, ("boss", "admin", ["*"]), ("two", "manager", ["north", "south"]))
    boss = console.login("boss")
    for alert_id, action in ((ids[0], "acknowledge"), (ids[2], "resolve")):
        assert boss.post(f"/api/alerts/{alert_id}/actions", json={"action": action}).is_success
    whole = exact(boss)  # 12 alerts: under EXACT_MAX, exact
    monkeypatch.setattr(stats_route, "EXACT_MAX", 3)
    for user in ("boss", "two"):
        r = console.login(user).get("/api/stats")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["source"] == "rollup" and got["ack_resolution"] == 0.189
        assert {(d["site_id"], d["camera_id"]) for d in got["per_day"]} == {("", "")}
        assert {d["timezone"] for d in got["per_day"]} == {""}  # two zones summed
        assert per_day_rule(got["per_day"]) == per_day_rule(whole["per_day"])
        assert per_site_rule(got["per_site"]) == per_site_rule(whole["per_day"])
        assert whole["per_site"] == []
        for name in ("by_state", "incidents_by_state", "incidents", "acknowledged"):
            assert got[name] == whole[name], name
        for name in ("ack_seconds_median", "ack_seconds_p90"):
            assert abs(got[name] - whole[name]) <= 0.19 * whole[name], (name, got, whole)

    # a range: each site's touched local days, as exact counts of those whole days add up
    since, until = BASE + timedelta(hours=1), BASE + timedelta(hours=11)
    got = boss.get("/api/stats", params={"since": since.isoformat(),
                                         "until": until.isoformat()}).json()  # fmt: skip
    want: Counter[tuple[str, str]] = Counter()
    sites: Counter[tuple[str, str]] = Counter()
    states: Counter[str] = Counter()
    acked = incidents = 0
    for site, tz_name in ZONES.items():
        tz = ZoneInfo(tz_name)
        first = since.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        last = (until - timedelta(microseconds=1)).astimezone(tz)
        end = (last + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        part = exact(boss, site=site, since=first.isoformat(), until=end.isoformat())
        want += per_day_rule(part["per_day"])
        sites += per_site_rule(part["per_day"])
        states.update(part["by_state"])
        acked, incidents = acked + part["acknowledged"], incidents + part["incidents"]
    assert per_day_rule(got["per_day"]) == want
    assert per_site_rule(got["per_site"]) == sites
    assert got["by_state"] == dict(states)
    assert (got["acknowledged"], got["incidents"]) == (acked, incidents)  # core + edge days

    # every site, a range whose first and last local day are the same in both zones (and UTC):
    # the histogram summed over sites answers, with the per-site rows' numbers
    wide = {"since": "2026-10-31T12:00:00+00:00", "until": "2026-11-03T12:00:00+00:00"}
    got = boss.get("/api/stats", params=wide).json()
    two = console.login("two").get("/api/stats", params=wide).json()  # per-site rows
    assert got["acknowledged"] == two["acknowledged"] == whole["acknowledged"] > 0
    assert got["ack_seconds_p90"] == two["ack_seconds_p90"] is not None

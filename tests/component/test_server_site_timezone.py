"""A site's time zone (EdgeStatus.timezone → sites.timezone): statistics count the site's own
days on SQLite and PostgreSQL, GET /api/sites names the zone, and revision 0003 adds the
column to a database at 0002."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from sitewatch.console.store.db import alembic_config
from sitewatch.console.store.models import Site
from tests.support.console_support import Console, add_users, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

T = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)  # 04:30 on 23 Nov in Shanghai


def _set_zone(console: Console, site: str, zone: str | None) -> None:
    db = console.client.app.state.sitewatch.db  # type: ignore[attr-defined]
    with db.session() as s:
        row = s.get(Site, site)
        assert row is not None
        row.timezone = zone


def test_stats_count_each_site_s_own_days(console: Console) -> None:
    """The same instants fall on other days in other zones; at the edges of a local day the
    count moves with the zone's offset, to the minute (Kathmandu is UTC+5:45)."""
    plan = {
        "shanghai": ("Asia/Shanghai", [T, datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC)]),
        "greenwich": (None, [T, datetime(2026, 11, 23, 0, 0, tzinfo=UTC)]),
        "kathmandu": (
            "Asia/Kathmandu",
            [
                datetime(2026, 11, 22, 18, 14, 59, tzinfo=UTC),
                datetime(2026, 11, 22, 18, 15, tzinfo=UTC),
            ],
        ),
    }
    for site, (zone, times) in plan.items():
        for t in times:
            seed_alert(console, site, "gate", started_at=t)
        _set_zone(console, site, zone)
    add_users(console, ("li.wei", "manager", ["*"]))
    c = console.login("li.wei")
    st = c.get("/api/stats").json()
    assert [(d["site_id"], d["day"], d["count"], d["timezone"]) for d in st["per_day"]] == [
        ("greenwich", "2026-11-22", 1, "UTC"),  # 20:30 UTC
        ("kathmandu", "2026-11-22", 1, "Asia/Kathmandu"),  # 23:59:59 local
        ("shanghai", "2026-11-22", 1, "Asia/Shanghai"),  # 23:59:59 local
        ("greenwich", "2026-11-23", 1, "UTC"),
        ("kathmandu", "2026-11-23", 1, "Asia/Kathmandu"),  # 00:00 local
        ("shanghai", "2026-11-23", 1, "Asia/Shanghai"),  # 04:30 local
    ]
    window = {"since": "2026-11-22T16:00:00Z", "until": "2026-11-23T16:00:00Z"}  # 23 Nov, CST
    one = c.get("/api/stats", params={"site": "shanghai", **window}).json()
    assert [(d["day"], d["count"]) for d in one["per_day"]] == [("2026-11-23", 1)]
    sites = {s["id"]: s["timezone"] for s in c.get("/api/sites").json()}
    assert sites == {"greenwich": None, "kathmandu": "Asia/Kathmandu", "shanghai": "Asia/Shanghai"}


def test_a_site_across_a_daylight_saving_change_keeps_its_local_days(console: Console) -> None:
    """Berlin leaves summer time on 25 Oct 2026 at 01:00 UTC: 22:30 UTC is the next local day
    before the change (UTC+2) and the same local day after it (UTC+1)."""
    for t in (
        datetime(2026, 10, 24, 22, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),
    ):
        seed_alert(console, "berlin", "crane", started_at=t)
    _set_zone(console, "berlin", "Europe/Berlin")
    add_users(console, ("anna", "manager", ["berlin"]))
    st = console.login("anna").get("/api/stats").json()
    assert [(d["day"], d["count"]) for d in st["per_day"]] == [("2026-10-25", 2)]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty SQLite file, then of an empty PostgreSQL database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'old.db'}"


def test_the_migration_adds_the_site_time_zone(empty_database: str) -> None:
    """A database at 0002 with a site keeps it at head, with no zone (NULL) until its edge
    reports one; and goes back down to 0002."""
    url = empty_database
    command.upgrade(alembic_config(url), "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sites (id, name, edge_state) VALUES ('north', 'North', 'online')")
        )
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, timezone FROM sites")).all()
    assert [tuple(r) for r in rows] == [("north", None)]
    command.downgrade(alembic_config(url), "0002")
    columns = {c["name"] for c in inspect(engine).get_columns("sites")}
    engine.dispose()
    assert "timezone" not in columns and "edge_state" in columns

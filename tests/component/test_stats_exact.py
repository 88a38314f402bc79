"""The exact statistics (domain/stats_exact.py) give the same answer on PostgreSQL (local days
and percentiles in SQL) as on SQLite (quarter hours and times folded and sorted in Python):
the same alerts seeded into both, sites in zones with and without daylight saving (Berlin
leaves summer time on 25 Oct 2026 at 01:00 UTC; Kathmandu is UTC+5:45), a site without a zone
and one whose zone is not an IANA name, alerts a minute and a microsecond either side of local
midnights, times to acknowledge with microseconds (and one negative), compared as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy
import pytest
from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from sitewatch.console.store.models import Site
from tests.support.console_support import Console, add_users, make_settings, seed_alert
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401

ZONES = {"berlin": "Europe/Berlin", "kathmandu": "Asia/Kathmandu", "nowhere": None,
         "mars": "Mars/Olympus_Mons"}  # fmt: skip
MIDNIGHTS = {  # local midnights in UTC: Berlin before and after its change, Kathmandu, UTC
    "berlin": [datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)],
    "kathmandu": [datetime(2026, 10, 24, 18, 15, tzinfo=UTC)],
    "nowhere": [datetime(2026, 10, 25, tzinfo=UTC)],
    "mars": [datetime(2026, 10, 25, tzinfo=UTC)],
}
NEAR = [timedelta(minutes=-1), timedelta(microseconds=-1), timedelta(0), timedelta(minutes=14),
        timedelta(minutes=15), timedelta(hours=3)]  # fmt: skip
RULES = ("no_helmet", "smoking")


def plan() -> list[tuple[str, str, str, datetime, datetime, datetime | None]]:
    """30 alerts (site, camera, rule, started, received, acknowledged or None), 24 of them
    acknowledged: times with microseconds, one acknowledged before it was received."""
    out, i = [], 0
    for site, midnights in MIDNIGHTS.items():
        for started in (m + near for m in midnights for near in NEAR):
            received = started + timedelta(seconds=1, microseconds=7 * i)
            acked = received + timedelta(seconds=1.37 * i**1.5, microseconds=13 * i)
            if i == 7:
                acked = received - timedelta(seconds=3)  # clocks apart: counts as 0
            camera, rule = ("crane", "gate")[i % 2], RULES[i // 2 % 2]
            out.append((site, camera, rule, started, received, acked if i % 5 else None))
            i += 1
    return out


ACK_SECONDS = [max(0.0, (a - r).total_seconds()) for *_, r, a in plan() if a is not None]


def seed(console: Console) -> None:
    """:func:`plan`'s alerts, in order, the sites' zones and three users."""
    for site, camera, rule, started, received, acked in plan():
        seed_alert(
            console, site, camera, rule=rule, started_at=started, received_at=received,
            state="new" if acked is None else "acknowledged", acknowledged_at=acked, events=1,
        )  # fmt: skip
    with console.state.db.session() as s:
        for site, name in ZONES.items():
            row = s.get(Site, site)
            assert row is not None
            row.timezone = name
    add_users(
        console,
        ("boss", "admin", ["*"]),
        ("two", "manager", ["berlin", "kathmandu"]),
        ("cams", "manager", ["berlin", "kathmandu"], ["berlin/crane", "kathmandu/gate"]),
    )


@pytest.fixture
def consoles(tmp_path: Path, postgres_url: str) -> Iterator[dict[str, Console]]:  # noqa: F811
    """The console on SQLite and on PostgreSQL, each seeded with :func:`seed`."""
    settings = {}
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        (tmp_path / name).mkdir()
        settings[name] = make_settings(tmp_path / name, database_url=url)
    with (
        TestClient(create_app(settings["sqlite"])) as lite,
        TestClient(create_app(settings["postgresql"])) as pg,
    ):
        out = {"sqlite": Console(settings["sqlite"], lite),
               "postgresql": Console(settings["postgresql"], pg)}  # fmt: skip
        for console in out.values():
            seed(console)
        yield out


USERS = ("boss", "two", "cams")
VIEWS: list[tuple[str, dict[str, str]]] = [
    ("boss", {}),
    ("boss", {"site": "berlin"}),
    ("boss", {"site": "kathmandu", "since": "2026-10-24T18:14:00Z"}),
    ("boss", {"site": "mars"}),
    ("boss", {"site": "berlin", "camera": "crane", "until": "2026-10-25T23:00:00Z"}),
    ("boss", {"since": "2026-10-24T21:59:59.999999Z", "until": "2026-10-25T23:14:00Z"}),
    ("two", {}),
    ("two", {"since": "2026-10-25T00:00:00Z"}),
    ("cams", {}),
]


def test_postgresql_and_sqlite_give_the_same_exact_answer(consoles: dict[str, Console]) -> None:
    """Every view of :data:`VIEWS`, the whole answer: days, zones, counts, percentiles."""
    clients = {(name, user): c.login(user) for name, c in consoles.items() for user in USERS}
    for user, params in VIEWS:
        answers: dict[str, Any] = {}
        for name in consoles:
            r = clients[(name, user)].get("/api/stats", params=params)
            assert r.status_code == 200, f"{name}, {user}, {params}: {r.text}"
            answers[name] = r.json()
        assert answers["postgresql"] == answers["sqlite"], (user, params)
        assert answers["sqlite"]["source"] == "alerts"
        assert answers["sqlite"]["per_day"], f"{user}, {params}: the view should hold alerts"


def test_the_answer_counts_local_days_and_interpolates(consoles: dict[str, Console]) -> None:
    """What both answer, checked against the zones and numpy: Berlin's alerts fall on 24, 25
    and 26 Oct (a minute before each midnight, after it, whatever the offset); the sites
    without a zone or with one that is not an IANA name count in UTC; the median and 90th
    percentile of 24 times are numpy's linear interpolation between two of them."""
    for console in consoles.values():
        st = console.login("boss").get("/api/stats").json()
        days = {(d["site_id"], d["day"], d["timezone"]) for d in st["per_day"]}
        assert {(site, day) for site, day, _ in days if site == "berlin"} == {
            ("berlin", "2026-10-24"), ("berlin", "2026-10-25"), ("berlin", "2026-10-26")
        }  # fmt: skip
        assert {z for site, _, z in days if site in ("mars", "nowhere")} == {"UTC"}
        assert {z for site, _, z in days if site == "kathmandu"} == {"Asia/Kathmandu"}
        assert st["acknowledged"] == len(ACK_SECONDS) == 24
        median, p90 = numpy.percentile(ACK_SECONDS, [50, 90])
        assert st["ack_seconds_median"] == pytest.approx(median, rel=1e-12)
        assert st["ack_seconds_p90"] == pytest.approx(p90, rel=1e-12)
        assert st["ack_seconds_median"] not in ACK_SECONDS and 0.0 in ACK_SECONDS

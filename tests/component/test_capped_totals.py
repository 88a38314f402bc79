"""Lists count their rows up to a cap (domain/queries.py ``capped_total``): exact below it,
"more than the cap" above it; the alert and incident lists say which."""

from __future__ import annotations

from sqlalchemy import select

from sitewatch.console.domain.incidents import Windows, group_alert
from sitewatch.console.domain.queries import capped_total
from sitewatch.console.store.models import Alert, Incident
from tests.support.console_support import Console, add_users, console_fixture, seed_alert  # noqa: F401


def test_a_total_stops_at_the_cap(console: Console) -> None:
    for _ in range(5):
        seed_alert(console)
    with console.state.db.session() as s:
        where = [Alert.site_id == "north"]
        assert capped_total(s, Alert, where, cap=3) == (3, True)
        assert capped_total(s, Alert, where, cap=5) == (5, False)
        assert capped_total(s, Alert, where, cap=10) == (5, False)
        assert capped_total(s, Alert, [Alert.site_id == "south"], cap=3) == (0, False)


def test_the_lists_say_whether_their_total_is_exact(console: Console) -> None:
    ids = [seed_alert(console) for _ in range(3)]
    with console.state.db.session() as s:
        for alert in s.scalars(select(Alert).where(Alert.id.in_(ids))):
            group_alert(s, alert, Windows(), now=alert.received_at)
        assert capped_total(s, Incident, [], cap=0) == (0, True)
    add_users(console, ("boss", "admin", ["*"]))
    boss = console.login("boss")
    page = boss.get("/api/alerts").json()
    assert (page["total"], page["total_capped"]) == (3, False)
    page = boss.get("/api/incidents").json()
    assert (page["total"], page["total_capped"]) == (1, False)

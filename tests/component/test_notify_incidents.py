"""Notifications per incident on a controlled clock, against a real local WeCom receiver and a
real console database (SQLite, then PostgreSQL): ten alerts of one incident make one
notification (the later ones fold into it; the escalation says how many), an incident not
acknowledged for N minutes goes to level 2 (audited on the incident), an acknowledged one
does not, a re-opened one notifies again, and the overdue view lists the incident once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sitewatch.console.app import create_app
from sitewatch.console.domain.incident_actions import act_on_incident
from sitewatch.console.domain.incidents import Windows, group_alert
from sitewatch.console.notify.manage import overdue
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.store.models import (
    Alert,
    AlertNotice,
    AuditEntry,
    Incident,
    Notification,
    NotifyRoute,
    User,
)
from tests.support.console_support import Console, add_users, make_settings, seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


class Clock:
    """The time the worker and ingest see; tests move it on."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(name="console", params=["sqlite", "postgresql"])
def console_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    settings = make_settings(tmp_path, database_url=url, notify_poll_s=0)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers())


def setup(console: Console, rx: Receivers) -> tuple[Clock, NotifyWorker]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    rx.clock = lambda: clock().timestamp()
    with console.state.db.session() as s:
        for level, who in ((1, "safety"), (2, "pm")):
            s.add(
                NotifyRoute(
                    name=who, channel="wecom", level=level, sites=["*"],
                    target={"url": f"{rx.base}/wecom?key={who}"},
                )
            )  # fmt: skip
    add_users(console, ("boss", "admin", ["*"]))
    return clock, NotifyWorker(console.state.db, console.settings, now=clock)


def ingest(console: Console, clock: Clock, camera: str = "gate") -> str:
    """An alert stored and grouped as ingest does; its incident's id."""
    alert_id = seed_alert(console, "north", camera, started_at=clock(), received_at=clock())
    with console.state.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        return group_alert(s, alert, Windows(), now=clock()).incident.id


def act(console: Console, clock: Clock, incident_id: str, action: str) -> None:
    with console.state.db.session() as s:
        user = s.scalars(select(User).where(User.username == "boss")).one()
        incident = s.get(Incident, incident_id)
        assert incident is not None
        act_on_incident(
            s, user, incident, action,  # type: ignore[arg-type]
            note="", assignee=None, client=None, now=clock(),
        )  # fmt: skip


def keys(rx: Receivers) -> list[str]:
    return [r.path.rsplit("=", 1)[1] for r in rx.accepted]


def test_ten_alerts_of_one_incident_make_one_notification_then_level_2(
    console: Console, rx: Receivers
) -> None:
    clock, worker = setup(console, rx)
    incidents = set()
    for _ in range(10):  # one person in the gate zone, an alert every 20 s
        incidents.add(ingest(console, clock))
        worker.tick()
        clock.advance(seconds=20)
    assert len(incidents) == 1, "the ten alerts form one incident"
    assert keys(rx) == ["safety"], "one notification for the incident, not ten"
    with console.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 1
        levels = sorted(s.scalars(select(AlertNotice.level)))
    assert levels == [0] * 9 + [1], "nine alerts folded into the incident's lead"
    clock.advance(minutes=26)  # 29:20 after level 1
    worker.tick()
    assert keys(rx) == ["safety"], "not before N minutes"
    clock.advance(minutes=1)  # 30:20 after level 1
    worker.tick()
    assert keys(rx) == ["safety", "pm"], "not acknowledged: level 2"
    content = rx.messages("wecom")[-1]["markdown"]["content"]
    assert "第 2 级" in content and "共 10 条告警" in content, content
    with console.state.db.session() as s:
        steps = s.scalars(select(AuditEntry).where(AuditEntry.action == "escalate")).all()
        assert [(e.object_type, e.object_id) for e in steps] == [("incident", *incidents)]
        admin = s.scalars(select(User).where(User.username == "boss")).one()
        late = overdue(s, admin, clock(), timedelta(minutes=30), 100)
    assert [(o.incident_id, o.alerts, o.level) for o in late] == [(*incidents, 10, 2)]


def test_an_acknowledged_incident_does_not_escalate(console: Console, rx: Receivers) -> None:
    clock, worker = setup(console, rx)
    incident = ingest(console, clock)
    worker.tick()
    assert keys(rx) == ["safety"]
    clock.advance(minutes=2)
    act(console, clock, incident, "acknowledge")
    clock.advance(seconds=30)
    assert ingest(console, clock) == incident, "a new alert joins the acknowledged incident"
    for _ in range(3):
        clock.advance(minutes=31)
        worker.tick()
    assert keys(rx) == ["safety"], "acknowledged: no escalation, no new notification"
    with console.state.db.session() as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.action == "escalate")).all()
        admin = s.scalars(select(User).where(User.username == "boss")).one()
        assert overdue(s, admin, clock(), timedelta(minutes=30), 100) == []


def test_a_reopened_incident_notifies_again(console: Console, rx: Receivers) -> None:
    clock, worker = setup(console, rx)
    incident = ingest(console, clock)
    worker.tick()
    clock.advance(minutes=2)
    act(console, clock, incident, "resolve")
    clock.advance(minutes=2)
    assert ingest(console, clock) == incident, "the same violation within the window"
    with console.state.db.session() as s:
        row = s.get(Incident, incident)
        assert row is not None and row.state == "new" and row.reopen_count == 1
    clock.advance(seconds=5)
    worker.tick()
    assert keys(rx) == ["safety", "safety"], "the re-opened incident notifies again"
    clock.advance(seconds=20)
    ingest(console, clock)
    worker.tick()
    clock.advance(minutes=31)
    worker.tick()
    assert keys(rx) == ["safety", "safety", "pm"], "one more alert folds; then level 2 once"


def test_a_route_that_asks_gets_n_more_lines_at_most_one_a_minute(
    console: Console, rx: Receivers
) -> None:
    clock, worker = setup(console, rx)
    with console.state.db.session() as s:
        s.add(
            NotifyRoute(
                name="chatty", channel="wecom", level=1, sites=["*"], incident_updates=True,
                target={"url": f"{rx.base}/wecom?key=chatty"},
            )
        )  # fmt: skip
    for _ in range(10):  # an alert every 20 s for 200 s
        ingest(console, clock)
        worker.tick()
        clock.advance(seconds=20)
    clock.advance(seconds=60)
    worker.tick()
    assert keys(rx).count("safety") == 1, "a route that does not ask: one notification"
    chatty = [r for r in rx.accepted if r.path.endswith("=chatty")]
    assert 2 <= len(chatty) <= 1 + 4, "the first alert, then at most one line a minute"
    gaps = [b.at - a.at for a, b in pairwise(chatty[1:])]
    assert all(g >= 60 for g in gaps), gaps
    with console.state.db.session() as s:
        rows = s.scalars(select(Notification).where(Notification.dedupe_key.like("%:more:%")))
        more = [(r.state, r.payload["alert"]["more"]) for r in rows]
    assert {state for state, _ in more} == {"sent"} and sum(n for _, n in more) == 9, more
    assert "同一事件又有" in chatty[-1].body["markdown"]["content"]

"""The outbox and escalation on a controlled clock, against real local receivers and a real
console database (SQLite, then PostgreSQL): a burst of 200 alerts as digests within 20
messages a minute, retries with backoff, escalation after N minutes (audited), routes matching
site, camera, rule and hours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.notify.routing import within_hours
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.store.models import Alert, AuditEntry, Notification, NotifyRoute, Site
from tests.support.console_support import Console, make_settings, seed_alert
from tests.support.notify_receivers import Receivers, serve_receivers
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401


class Clock:
    """The time the worker sees; tests move it on."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(name="console", params=["sqlite", "postgresql"])
def console_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    """The console with its own worker off (the tests drive one on their clock), on a real
    SQLite file, then on a real PostgreSQL database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    settings = make_settings(tmp_path, database_url=url, notify_poll_s=0)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers(dingtalk_secret="SEC-ding"))


def add_route(console: Console, **fields: Any) -> int:
    fields.setdefault("name", f"{fields['channel']} L{fields.get('level', 1)}")
    fields.setdefault("sites", ["*"])
    with console.state.db.session() as s:
        route = NotifyRoute(**fields)
        s.add(route)
        s.flush()
        return int(route.id)


def windows_over(times: list[float], limit: int, window: float = 60.0) -> list[float]:
    """Start times of 60 s windows holding more than ``limit`` messages."""
    return [t for t in times if sum(t <= u < t + window for u in times) > limit]


@pytest.mark.parametrize("channel", ["wecom", "dingtalk"])
def test_a_burst_of_200_alerts_arrives_as_digests_within_20_a_minute(
    console: Console, rx: Receivers, channel: str
) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    rx.clock = lambda: clock().timestamp()
    target = {"url": f"{rx.base}/wecom?key=k"}
    if channel == "dingtalk":
        target = {"url": f"{rx.base}/dingtalk?access_token=t", "secret": "SEC-ding"}
    add_route(console, channel=channel, target=target, rate_per_min=20)
    worker = NotifyWorker(console.state.db, console.settings, now=clock)
    expected = []
    for second in range(600):  # 10 alerts a second for 20 s, then until all are out
        if second < 20:
            for i in range(10):
                camera = f"cam{second * 10 + i:03d}"
                seed_alert(console, "north", camera, started_at=clock(), received_at=clock())
                expected.append(camera)
        worker.tick()
        clock.advance(seconds=1)
        with console.state.db.session() as s:
            if second > 20 and not s.scalar(
                select(Notification.id).where(Notification.state != "sent").limit(1)
            ):
                break
    texts = [
        b["markdown"]["content" if channel == "wecom" else "text"] for b in rx.messages(channel)
    ]
    named = [n.lower() for n in re.findall(r"cam\d{3}", "\n".join(texts), re.IGNORECASE)]
    assert sorted(named) == sorted(expected), "every alert exactly once, none lost"
    times = [r.at for r in rx.accepted]
    assert not windows_over(times, 20), f"more than 20 messages in a minute: {times}"
    print(
        f"{channel}: {len(texts)} messages for 200 alerts, at {sorted(times)[-1] - times[0]:.0f} s"
    )
    assert len(texts) < 40 and any("200" not in t and t.count("\n- ") > 5 for t in texts)
    assert not rx.refused
    with console.state.db.session() as s:
        rows = list(s.scalars(select(Notification)))
    assert {r.state for r in rows} == {"sent"} and len(rows) == 200
    assert len({r.message_id for r in rows}) == len(texts)


def test_a_receiver_down_is_retried_with_backoff(console: Console, rx: Receivers) -> None:
    clock = Clock(datetime.now(UTC))
    add_route(console, channel="wecom", target={"url": f"{rx.base}/wecom?key=k"})
    worker = NotifyWorker(console.state.db, console.settings, now=clock)
    seed_alert(console, received_at=clock())
    rx.fail_next = 2
    assert worker.tick() == 0
    with console.state.db.session() as s:
        row = s.scalars(select(Notification)).one()
    assert (row.state, row.attempts, row.next_try_at) == (
        "pending",
        1,
        clock() + timedelta(seconds=10),
    )
    assert "HTTP 500" in (row.last_error or "")
    clock.advance(seconds=5)
    assert worker.tick() == 0  # not yet due
    clock.advance(seconds=5)
    assert worker.tick() == 0  # second failure: next in 30 s
    clock.advance(seconds=30)
    assert worker.tick() == 1
    with console.state.db.session() as s:
        row = s.scalars(select(Notification)).one()
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert len(rx.messages("wecom")) == 1


def test_an_alert_not_acknowledged_climbs_a_level_every_n_minutes(
    console: Console, rx: Receivers
) -> None:
    clock = Clock(datetime.now(UTC) - timedelta(hours=3))
    for level, who in ((1, "safety"), (2, "pm"), (3, "centre")):
        add_route(
            console, channel="wecom", level=level, target={"url": f"{rx.base}/wecom?key={who}"}
        )
    worker = NotifyWorker(console.state.db, console.settings, now=clock)
    waiting = seed_alert(console, received_at=clock(), started_at=clock())
    handled = seed_alert(console, "north", "crane", received_at=clock(), started_at=clock())

    def keys() -> list[str]:
        return [r.path.rsplit("=", 1)[1] for r in rx.accepted]

    worker.tick()
    assert keys() == ["safety"], "both alerts in one digest"
    assert rx.messages("wecom")[0]["markdown"]["content"].count("\n- ") == 2
    with console.state.db.session() as s:
        alert = s.get(Alert, handled)
        assert alert is not None
        alert.state = "acknowledged"
    clock.advance(minutes=29)
    worker.tick()
    assert len(keys()) == 1, "not before N minutes"
    clock.advance(minutes=1, seconds=1)
    worker.tick()
    worker.tick()  # the rate limit's spacing lets one message a route through per 3 s
    assert keys()[1:] == ["pm"], "only the alert still new climbs"
    clock.advance(minutes=30)
    worker.tick()
    clock.advance(minutes=30)
    worker.tick()
    assert keys()[1:] == ["pm", "centre"], "level 3 is the top"
    assert "第 3 级" in rx.messages("wecom")[-1]["markdown"]["content"]
    with console.state.db.session() as s:
        steps = s.scalars(select(AuditEntry).where(AuditEntry.action == "escalate")).all()
    assert [(e.object_id, e.username) for e in steps] == [(waiting, "system")] * 2
    assert "level 1 -> 2" in steps[0].detail and "level 2 -> 3" in steps[1].detail


def test_routes_match_site_camera_rule_and_hours(console: Console, rx: Receivers) -> None:
    # 08:00 in Shanghai is 00:00 UTC
    clock = Clock(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    url = f"{rx.base}/wecom?key="
    add_route(
        console,
        channel="wecom",
        target={"url": url + "gate"},
        cameras=["north/gate"],
        sites=["north"],
    )
    add_route(console, channel="wecom", target={"url": url + "smoke"}, rules=["smoking"])
    add_route(console, channel="wecom", target={"url": url + "day"}, hours="07:00-19:00")
    add_route(console, channel="wecom", target={"url": url + "night"}, hours="19:00-07:00")
    add_route(console, channel="wecom", target={"url": url + "off"}, enabled=False)
    worker = NotifyWorker(console.state.db, console.settings, now=clock)
    seed_alert(console, "north", "gate", received_at=clock())
    with console.state.db.session() as s:
        site = s.get(Site, "north")
        assert site is not None
        site.timezone = "Asia/Shanghai"
    worker.tick()
    assert sorted(r.path.rsplit("=", 1)[1] for r in rx.accepted) == ["day", "gate"]
    seed_alert(console, "south", "yard", rule="smoking", received_at=clock())
    clock.advance(seconds=5)
    worker.tick()
    assert sorted(r.path.rsplit("=", 1)[1] for r in rx.accepted[2:]) == ["night", "smoke"]
    assert all("吸烟" in m["markdown"]["content"] for m in rx.messages("wecom")[2:])


def test_hours_run_past_midnight() -> None:
    assert within_hours("22:00-06:00", time(23, 30)) and within_hours("22:00-06:00", time(5, 59))
    assert not within_hours("22:00-06:00", time(6, 0))
    assert within_hours("07:00-19:00", time(7, 0)) and not within_hours("07:00-19:00", time(19, 0))
    assert within_hours(None, time(3, 0))


def test_a_notification_whose_route_was_removed_fails_saying_so(
    console: Console, rx: Receivers
) -> None:
    clock = Clock(datetime.now(UTC))
    route = add_route(console, channel="wecom", target={"url": f"{rx.base}/wecom?key=k"})
    worker = NotifyWorker(console.state.db, console.settings, now=clock)
    rx.fail_next = 1
    seed_alert(console, received_at=clock())
    worker.tick()
    with console.state.db.session() as s:
        s.delete(s.get(NotifyRoute, route))
    clock.advance(seconds=10)
    worker.tick()
    with console.state.db.session() as s:
        row = s.scalars(select(Notification)).one()
    assert (row.state, row.last_error) == ("failed", "not sent: its route was removed")
    assert rx.accepted == []

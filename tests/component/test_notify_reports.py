"""Scheduled reports on a controlled clock, through the outbox to a real SMTP server (aiosmtpd)
and a real local WeCom receiver: the daily report of a site's yesterday (its zone) arrives once
after 08:00 local, as a mail with the xlsx (read back with openpyxl: the right counts) and as
markdown with the key numbers and a download link; a console restarted around that time, or
down at that time, sends it once."""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from sitewatch.console.app import create_app
from sitewatch.console.domain.incidents import Windows, group_alert
from sitewatch.console.domain.report_text import text
from sitewatch.console.notify.worker import NotifyWorker
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, Notification, NotifyRoute, Site
from tests.support.console_support import Console, add_users, make_settings, seed_alert
from tests.support.notify_receivers import MailBox, Receivers, serve_receivers, serve_smtp

SHANGHAI_0759 = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)  # Wed 2 Dec 07:59 in Shanghai
MADE = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # the routes, at 07:00 local
DAY_START = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Tue 1 Dec 00:00 in Shanghai


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[tuple[MailBox, int]]:
    yield from serve_smtp()


@pytest.fixture(name="rx")
def rx_fixture() -> Iterator[Receivers]:
    yield from serve_receivers(Receivers())


def console_at(settings: Settings) -> Generator[Console]:
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


def seed_day(
    console: Console, reports: tuple[str, ...] = ("daily",), made: datetime = MADE
) -> None:
    """Tue 1 Dec (Shanghai): gate 3 alerts a minute apart (one incident) and 2 more at 14:00
    (another), crane 2 smoking alerts at 10:00 (one); one the day before and one the day
    after, which the report leaves out."""
    at = DAY_START + timedelta(hours=9)
    times = [("gate", "no_helmet", at + timedelta(minutes=m)) for m in range(3)]
    times += [
        ("gate", "no_helmet", DAY_START + timedelta(hours=14, seconds=30 * i)) for i in (0, 1)
    ]
    times += [("crane", "smoking", DAY_START + timedelta(hours=10, seconds=40 * i)) for i in (0, 1)]
    times += [("gate", "no_helmet", DAY_START - timedelta(hours=1))]
    times += [("gate", "no_helmet", DAY_START + timedelta(days=1, hours=1))]
    for camera, rule, started in times:
        alert_id = seed_alert(console, "north", camera, rule=rule, started_at=started)
        with console.state.db.session() as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            group_alert(s, alert, Windows(), now=started)
    with console.state.db.session() as s:
        site = s.get(Site, "north")
        assert site is not None
        site.timezone, site.name = "Asia/Shanghai", "北工地"
        s.add(
            NotifyRoute(
                name="daily mail", channel="email", target={"to": ["boss@example.com"]},
                sites=["north"], reports=list(reports), language="zh-CN", created_at=made,
            )
        )  # fmt: skip
        s.add(
            NotifyRoute(
                name="daily robot", channel="wecom", target={"url": "http://127.0.0.1:1/wecom?key=r"},
                sites=["north"], reports=list(reports), language="zh-CN", created_at=made,
            )
        )  # fmt: skip


def point_robot(console: Console, rx: Receivers) -> None:
    with console.state.db.session() as s:
        route = s.scalars(select(NotifyRoute).where(NotifyRoute.channel == "wecom")).one()
        route.target = {"url": f"{rx.base}/wecom?key=r"}


def test_the_daily_report_arrives_once_by_mail_and_robot_across_restarts(
    tmp_path: Path, smtp: tuple[MailBox, int], rx: Receivers
) -> None:
    box, port = smtp
    settings = make_settings(
        tmp_path, notify_poll_s=0, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
        console_url="https://sitewatch.example",
    )  # fmt: skip
    clock = Clock(SHANGHAI_0759)
    rx.clock = lambda: clock().timestamp()
    first = console_at(settings)
    console = next(first)
    seed_day(console)
    point_robot(console, rx)
    NotifyWorker(console.state.db, settings, now=clock).tick()
    assert not box.mails and not rx.accepted, "07:59 local: not yet"
    first.close()  # the console stops just before 08:00 ...
    clock.advance(minutes=1, seconds=30)
    second = console_at(settings)  # ... and is back after it
    console = next(second)
    worker = NotifyWorker(console.state.db, settings, now=clock)
    for _ in range(3):
        worker.tick()
        clock.advance(seconds=5)
    second.close()
    clock.advance(hours=3)
    third = console_at(settings)
    console = next(third)
    NotifyWorker(console.state.db, settings, now=clock).tick()
    assert len(box.mails) == 1 and len(rx.accepted) == 1, "once, across two restarts"

    mail = box.mails[0]
    assert "日报" in mail["Subject"] and "2026-12-01" in mail["Subject"]
    parts = [p for p in mail.iter_attachments() if p.get_filename()]
    assert [p.get_filename() for p in parts] == ["sitewatch-north-day-2026-12-01.xlsx"]
    workbook = load_workbook(io.BytesIO(parts[0].get_content()))
    summary = {row[0]: row[1] for row in workbook["summary"].iter_rows(values_only=True)}
    assert summary[text("zh-CN", "report.total")] == 7
    assert summary[text("zh-CN", "report.incidents")] == 3
    cameras = {r[1]: r[3] for r in workbook["by_camera"].iter_rows(min_row=2, values_only=True)}
    assert cameras == {"gate": 5, "crane": 2}

    content = rx.messages("wecom")[0]["markdown"]["content"]
    assert "北工地" in content and "告警 **7** 条,事件 **3** 个" in content, content
    link = "https://sitewatch.example/api/reports?site=north&period=day&date=2026-12-01"
    assert link in content, content

    clock.advance(days=1)  # Thu 08:00+ local: Wednesday's report, once more
    worker = NotifyWorker(console.state.db, settings, now=clock)
    for _ in range(2):
        worker.tick()
        clock.advance(seconds=5)
    third.close()
    assert len(box.mails) == 2 and "2026-12-02" in box.mails[1]["Subject"]
    with console.state.db.session() as s:
        rows = s.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(r.state, r.level) for r in rows] == [("sent", 0)] * 4


def test_an_admin_makes_a_report_route(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, notify_poll_s=0)
    console = next(gen := console_at(settings))
    add_users(console, ("root", "admin", ["*"]))
    admin = console.login("root")
    body = {
        "name": "reports", "channel": "email", "target": {"to": ["boss@example.com"]},
        "sites": ["north"], "reports": ["weekly", "daily", "weekly"],
    }  # fmt: skip
    r = admin.post("/api/notify/routes", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["reports"] == ["daily", "weekly"]
    r = admin.post("/api/notify/routes", json={**body, "reports": []})
    assert r.status_code == 422 and "daily and/or weekly" in r.text, r.text
    r = admin.post("/api/notify/routes", json={**body, "reports": ["monthly"]})
    assert r.status_code == 422, r.text
    gen.close()


def test_the_weekly_report_goes_after_monday_0800_with_last_week(
    tmp_path: Path, smtp: tuple[MailBox, int]
) -> None:
    box, port = smtp
    settings = make_settings(
        tmp_path, notify_poll_s=0, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
    )  # fmt: skip
    monday_0800 = datetime(2026, 12, 7, 0, 0, 5, tzinfo=UTC)  # Mon 7 Dec 08:00:05 Shanghai
    clock = Clock(monday_0800 - timedelta(minutes=1))
    console = next(gen := console_at(settings))
    seed_day(console, ("weekly",), made=monday_0800 - timedelta(days=1))
    worker = NotifyWorker(console.state.db, settings, now=clock)
    worker.tick()
    assert not box.mails, "Monday 07:59: not yet (and nothing for the week before the route)"
    clock.advance(minutes=1)
    worker.tick()
    clock.advance(hours=30)  # Tuesday: still that week's, sent already
    worker.tick()
    gen.close()
    assert len(box.mails) == 1 and "周报" in box.mails[0]["Subject"]
    part = next(p for p in box.mails[0].iter_attachments() if p.get_filename())
    assert part.get_filename() == "sitewatch-north-week-2026-11-30.xlsx"
    workbook = load_workbook(io.BytesIO(part.get_content()))
    summary = {row[0]: row[1] for row in workbook["summary"].iter_rows(values_only=True)}
    assert summary[text("zh-CN", "report.total")] == 9, "Mon 30 Nov to Sun 6 Dec, local"

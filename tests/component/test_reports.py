"""Reports over a seeded week of alerts in real SQLite, opened and checked: the xlsx read back
with openpyxl (numbers against the seed), the PDF's text extracted with pypdf (Chinese
included); an alert's one-page evidence report from a real JPEG; scoping as the alert API's.

The seeded week is Monday 16 to Sunday 22 November 2026 at site north (Asia/Shanghai, UTC+8),
each day: a bare head at camera gate at 08:10 local (acknowledged after 5 min, resolved after
20 min), smoking at camera crane at 14:30 (acknowledged after 45 min: overdue), and on Monday,
Wednesday and Friday a restricted-zone entry at gate at 23:30 (never acknowledged: overdue; the
three put in one incident); site south (UTC) has a bare head at camera yard at 10:00 UTC each
day. One alert at north just before the week and one just after it must not count.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from sitewatch.console.app import create_app
from sitewatch.console.domain.evidence_report import boxed
from sitewatch.console.domain.report_text import REPORT_TEXT, text
from sitewatch.console.domain.reports import first_day_of, percentile
from sitewatch.console.store.models import (
    Alert,
    AlertAction,
    AuditEntry,
    Camera,
    Incident,
    Site,
)
from tests.support.console_support import (  # noqa: F401
    Console,
    add_users,
    console_fixture,
    make_settings,
    seed_alert,
)
from tests.support.postgres import postgres_fixture, postgres_url  # noqa: F401

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 16)


def _local(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def _acted(console: Console, alert_id: str, steps: list[tuple[datetime, str, str, str]]) -> None:
    with console.state.db.session() as s:
        for at, action, before, after in steps:
            s.add(
                AlertAction(
                    alert_id=alert_id, at=at, username="li.wei", action=action,
                    from_state=before, to_state=after,
                )
            )  # fmt: skip


def _seed_week(console: Console) -> dict[str, str]:
    """The week of the module docstring; returns a few alert ids by name."""
    ids: dict[str, str] = {}
    for i in range(7):
        day = MONDAY + timedelta(days=i)
        t = _local(day, 8, 10)
        a = seed_alert(
            console, "north", "gate", started_at=t, state="resolved",
            acknowledged_at=t + timedelta(minutes=5), closed_at=t + timedelta(minutes=20),
        )  # fmt: skip
        received = t + timedelta(seconds=1)  # seed_alert's received_at
        _acted(
            console,
            a,
            [
                (received + timedelta(minutes=5), "acknowledge", "new", "acknowledged"),
                (received + timedelta(minutes=7), "note", "acknowledged", "acknowledged"),
                (received + timedelta(minutes=20), "resolve", "acknowledged", "resolved"),
            ],
        )
        t = _local(day, 14, 30)
        b = seed_alert(
            console, "north", "crane", rule="smoking", started_at=t, state="acknowledged",
            acknowledged_at=t + timedelta(minutes=45),
        )  # fmt: skip
        received = t + timedelta(seconds=1)
        _acted(
            console, b, [(received + timedelta(minutes=45), "acknowledge", "new", "acknowledged")]
        )
        if i in (0, 2, 4):
            ids[f"restricted{i}"] = seed_alert(
                console, "north", "gate", rule="restricted_zone", started_at=_local(day, 23, 30)
            )
        seed_alert(console, "south", "yard", started_at=datetime(2026, 11, 16 + i, 10, tzinfo=UTC))
    seed_alert(console, "north", "gate", started_at=_local(MONDAY, 0, 0) - timedelta(seconds=1))
    seed_alert(console, "north", "gate", started_at=_local(MONDAY + timedelta(days=7), 0, 0))
    with console.state.db.session() as s:
        north, south = s.get(Site, "north"), s.get(Site, "south")
        assert north is not None and south is not None
        north.timezone = "Asia/Shanghai"
        south.edge_state = "offline"  # takes yard offline with it
        crane = s.get(Camera, ("north", "crane"))
        assert crane is not None
        crane.state, crane.error = "stalled", "no frame for 30 s"
        crane.status_at = datetime(2026, 11, 22, 6, tzinfo=UTC)
        entries = [s.get(Alert, ids[f"restricted{i}"]) for i in (0, 2, 4)]
        s.add(
            Incident(
                id="inc-restricted", site_id="north", camera_id="gate", rule="restricted_zone",
                zone_id="whole", first_at=entries[0].started_at, last_at=entries[-1].last_seen_at,
                alert_count=3,
            )
        )  # fmt: skip
        s.flush()
        for alert in entries:
            alert.incident_id = "inc-restricted"
    return ids


def _xlsx(c: Any, **params: str) -> dict[str, list[tuple[Any, ...]]]:
    r = c.get("/api/reports", params={**params, "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    return {ws.title: list(ws.iter_rows(min_row=2, values_only=True)) for ws in wb.worksheets}


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


@pytest.fixture(name="week")
def week_fixture(console: Console) -> dict[str, str]:
    ids = _seed_week(console)
    add_users(
        console,
        ("li.wei", "manager", ["*"]),
        ("zhao", "manager", ["south"]),
        ("gate.only", "manager", ["north"], ["north/gate"]),
        ("officer", "police", ["north"]),
        ("op", "operator", ["north"]),
    )
    return ids


def test_a_week_of_one_site_in_xlsx_matches_the_seed(
    console: Console, week: dict[str, str]
) -> None:
    c = console.login("li.wei")
    book = _xlsx(c, site="north", period="week", date="2026-11-19", lang="en")
    assert sorted(row[:2] + row[3:] for row in book["by_camera"]) == [
        ("north", "crane", 7),
        ("north", "gate", 10),
    ]
    assert {row[0]: row[2] for row in book["by_rule"]} == {
        "no_helmet": 7, "smoking": 7, "restricted_zone": 3,
    }  # fmt: skip
    hours = {row[0]: row[1] for row in book["by_hour"]}
    assert (hours[8], hours[14], hours[23], sum(hours.values())) == (7, 7, 3, 17)
    assert [(d.date(), n) for d, n in book["by_day"]] == [
        (MONDAY + timedelta(days=i), 3 if i in (0, 2, 4) else 2) for i in range(7)
    ]
    summary = {row[0]: row[1] for row in book["summary"]}
    assert summary["Violations"] == 17
    assert summary["Time to acknowledge"] == 14  # the gate's 7 and the crane's 7
    # 7 x 300 s and 7 x 2700 s: the median lies between the two, the 90th at 2700
    assert summary["Time to acknowledge · Median (s)"] == pytest.approx(1500)
    assert summary["Time to acknowledge · 90th percentile (s)"] == pytest.approx(2700)
    assert summary["Time to resolve (resolved or false positive) · Median (s)"] == pytest.approx(
        1200
    )
    assert summary["Overdue: not acknowledged within 30 min"] == 10
    assert summary["Incidents (repeats grouped)"] == 15  # the 3 restricted entries are one
    assert summary["Overdue incidents"] == 8
    overdue = book["overdue"]
    assert (
        sorted((row[3], row[8]) for row in overdue)
        == [("Restricted zone entry", False)] * 3 + [("Smoking", True)] * 7
    )
    assert {row[7] for row in overdue if row[3] == "Smoking"} == {45.0}
    late = next(row for row in overdue if row[0] == week["restricted0"])
    assert (late[4], late[5]) == (datetime(2026, 11, 16, 23, 30), "Asia/Shanghai")
    assert [row[:4] for row in book["offline"]] == [("north", "crane", "Crane", "stalled")]


def test_a_day_is_the_site_s_local_day_and_overdue_minutes_are_a_parameter(
    tmp_path: Path,
) -> None:
    """Overdue by default means later than the escalation (notify_escalate_after_min)."""
    settings = make_settings(tmp_path, notify_escalate_after_min=60.0)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        _seed_week(console)
        add_users(console, ("li.wei", "manager", ["*"]))
        c = console.login("li.wei")
        book = _xlsx(c, site="north", period="day", date="2026-11-18")
        assert sorted(row[0] for row in book["by_rule"]) == [
            "no_helmet",
            "restricted_zone",
            "smoking",
        ]
        assert [(d.date(), n) for d, n in book["by_day"]] == [(date(2026, 11, 18), 3)]
        assert [row[3] for row in book["overdue"]] == ["Restricted zone entry"]  # 45 min < 60
        asked = _xlsx(c, site="north", period="day", date="2026-11-18", overdue_after_min="40")
        assert sorted(row[3] for row in asked["overdue"]) == ["Restricted zone entry", "Smoking"]


def test_the_week_on_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The same numbers from PostgreSQL (times and actions as it stores them)."""
    settings = make_settings(tmp_path, database_url=request.getfixturevalue("postgres_url"))
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        _seed_week(console)
        add_users(console, ("li.wei", "manager", ["*"]))
        book = _xlsx(console.login("li.wei"), site="north", period="week", date="2026-11-22")
    assert {row[1]: row[3] for row in book["by_camera"]} == {"gate": 10, "crane": 7}
    summary = {row[0]: row[1] for row in book["summary"]}
    assert summary["Time to acknowledge · Median (s)"] == pytest.approx(1500)
    assert summary["Overdue: not acknowledged within 30 min"] == 10
    assert {row[0]: row[1] for row in book["by_hour"]}[23] == 3


def test_all_sites_count_each_site_s_own_days_and_its_offline_cameras(
    console: Console, week: dict[str, str]
) -> None:
    book = _xlsx(console.login("li.wei"), period="week", date="2026-11-22")
    assert {(row[0], row[1]): row[3] for row in book["by_camera"]} == {
        ("north", "gate"): 10, ("north", "crane"): 7, ("south", "yard"): 7,
    }  # fmt: skip
    assert sorted((row[0], row[1], row[3]) for row in book["offline"]) == [
        ("north", "crane", "stalled"),
        ("south", "yard", "offline"),
    ]
    # a user limited to one camera counts that camera only, and sees no other offline
    mine = _xlsx(console.login("gate.only"), period="week", date="2026-11-22")
    assert [(row[1], row[3]) for row in mine["by_camera"]] == [("gate", 10)]
    assert mine["offline"] == []


def test_the_pdf_reports_in_chinese_and_english(console: Console, week: dict[str, str]) -> None:
    c = console.login("li.wei")
    params = {"site": "north", "period": "week", "date": "2026-11-16", "format": "pdf"}
    r = c.get("/api/reports", params={**params, "lang": "zh-CN"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    _, words = _pdf_text(r.content)
    for expected in ("安全周报", "未戴安全帽", "吸烟", "危险区域闯入", "确认用时", "无画面"):
        assert expected in words, f"{expected!r} not in the PDF's text:\n{words}"
    assert "2026-11-16 至 2026-11-22" in words and "Asia/Shanghai" in words
    assert "25.0 分钟" in words  # the median time to acknowledge, 1500 s
    _, english = _pdf_text(c.get("/api/reports", params={**params, "lang": "en"}).content)
    assert "Weekly safety report" in english and "No hard hat" in english
    assert "未戴安全帽" not in english
    with console.state.db.session() as s:
        rows = s.query(AuditEntry).filter_by(object_type="report", action="download").all()
    assert [(a.username, a.site_id) for a in rows] == [("li.wei", "north")] * 2
    assert "sha256" in rows[0].detail


def test_reports_are_scoped_as_alerts_are(console: Console, week: dict[str, str]) -> None:
    assert console.login("zhao").get("/api/reports?site=north").status_code == 404
    south = _xlsx(console.login("zhao"), period="week", date="2026-11-16")
    assert {row[0] for row in south["by_camera"]} == {"south"}
    # no date: yesterday in the site's zone
    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).date()
    default = _xlsx(console.login("li.wei"), site="north")
    assert [d.date() for d, _ in default["by_day"]] == [yesterday]
    assert console.login("op").get("/api/reports").status_code == 403  # no reports.read
    assert console.login("officer").get("/api/reports").status_code == 403
    for day in ("2026-11-31", "0001-01-01", "9999-12-31"):  # no such day; beyond the calendar
        r = console.login("li.wei").get("/api/reports", params={"date": day, "period": "week"})
        assert r.status_code == 422, r.text


def _site_photo(quality: int) -> tuple[bytes, list[float]]:
    """A 1280x720 JPEG: a yard with a small figure (a head over a body) at the box."""
    img = np.full((720, 1280, 3), (70, 110, 90), np.uint8)
    cv2.rectangle(img, (0, 500), (1279, 719), (60, 60, 60), -1)
    cv2.rectangle(img, (900, 330), (940, 430), (40, 60, 160), -1)  # body
    cv2.circle(img, (920, 315), 14, (120, 160, 200), -1)  # bare head
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes()), [895 / 1280, 298 / 720, 945 / 1280, 432 / 720]


def test_an_alert_s_evidence_report_is_one_page_with_hashes_in_chinese(console: Console) -> None:
    photo, box = _site_photo(80)
    files = [
        ("snapshot.jpg", "snapshot", "image/jpeg", photo),
        ("still.jpg", "still", "image/jpeg", _site_photo(95)[0]),  # full resolution, drawn on
    ]
    started = datetime(2026, 11, 18, 0, 10, 5, tzinfo=UTC)  # 08:10:05 in Shanghai
    a = seed_alert(console, "north", "gate", started_at=started, files=files)
    with console.state.db.session() as s:
        site = s.get(Site, "north")
        assert site is not None
        site.timezone, site.name = "Asia/Shanghai", "北区工地"
        s.get(Camera, ("north", "gate")).zones = [{"id": "whole", "name": "大门"}]
        s.get(Alert, a).box = box
    add_users(console, ("officer", "police", ["north"]), ("zhao", "manager", ["south"]))
    c = console.login("officer")
    r = c.get(f"/api/alerts/{a}/report.pdf", params={"lang": "zh-CN"})
    assert r.status_code == 200, r.text
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 1
    assert len(reader.pages[0].images) == 2  # the boxed picture and the enlarged person
    words = reader.pages[0].extract_text()
    compact = "".join(words.split())
    for expected in ("违规证据报告", "未戴安全帽", "北区工地", "大门", a, "2026-11-18 08:10:05"):
        assert expected in words, f"{expected!r} not in the PDF's text:\n{words}"
    for _, _, _, data in files:
        assert hashlib.sha256(data).hexdigest() in compact
    stored = text("zh-CN", "evidence.stored")  # as the alert page says it
    assert compact.count(stored) == 2  # both files checked against their SHA-256
    with console.state.db.session() as s:
        audit = s.query(AuditEntry).filter_by(object_type="alert", object_id=a).one()
    assert (audit.username, audit.action) == ("officer", "download")
    assert "evidence report PDF (zh-CN)" in audit.detail and "still.jpg" in audit.detail
    english = c.get(f"/api/alerts/{a}/report.pdf", params={"lang": "en"})
    assert (
        "Violation evidence report"
        in PdfReader(io.BytesIO(english.content)).pages[0].extract_text()
    )
    # another site's manager: the same 404 as the alert API gives
    assert console.login("zhao").get(f"/api/alerts/{a}/report.pdf").status_code == 404
    assert console.login("zhao").get(f"/api/alerts/{a}").status_code == 404
    # a picture changed on disk is refused and logged, as a download would be
    still = console.settings.evidence_dir / "north" / a / "still.jpg"
    still.write_bytes(photo)
    refused = c.get(f"/api/alerts/{a}/report.pdf")
    assert refused.status_code == 409, refused.text
    assert "SHA-256" in refused.json()["detail"]
    with console.state.db.session() as s:
        assert s.query(AuditEntry).filter_by(action="tamper_detected", object_id=a).count() == 1


def test_an_alert_without_a_picture_still_gets_its_report(console: Console) -> None:
    a = seed_alert(console, "north", "gate", rule="smoking")
    add_users(console, ("officer", "police", ["north"]))
    r = console.login("officer").get(f"/api/alerts/{a}/report.pdf", params={"lang": "zh-CN"})
    assert r.status_code == 200, r.text
    page = PdfReader(io.BytesIO(r.content)).pages[0]
    assert "此告警没有已存储的抓拍图" in page.extract_text() and not page.images


def test_the_box_is_drawn_and_a_bare_head_s_crop_reaches_down_to_the_person() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)  # black; the box is drawn red (BGR)
    box = [600 / 1280, 100 / 720, 660 / 1280, 160 / 720]  # a 60x60 px head
    drawn, crop = boxed(image, box, below=4.0)
    assert tuple(drawn[100, 630]) == (0, 0, 255)  # the top edge, drawn
    assert tuple(drawn[130, 630]) == (0, 0, 0)  # inside: not filled
    # one head size around it, and 4 head heights down: the person under the head
    assert crop.shape[:2] == (60 + 60 + 4 * 60, 60 + 60 + 60)
    assert boxed(image, box, below=1.0)[1].shape[:2] == (180, 180)
    small = [640 / 1280, 100 / 720, 660 / 1280, 120 / 720]  # 20x20 px: widened to 160 px
    assert boxed(image, small, below=1.0)[1].shape[:2] == (160, 160)


def test_report_words_exist_in_both_languages() -> None:
    assert set(REPORT_TEXT["en"]) == set(REPORT_TEXT["zh-CN"])
    # the audit page names a report download in both languages
    assert (text("en", "audit_object.report"), text("zh-CN", "audit_object.report")) == (
        "report",
        "报表",
    )


@pytest.mark.parametrize(
    ("period", "day", "first"),
    [
        ("day", date(2026, 11, 18), date(2026, 11, 18)),
        ("week", date(2026, 11, 18), date(2026, 11, 16)),  # a Wednesday: its Monday
        ("week", date(2026, 11, 16), date(2026, 11, 16)),
        ("week", date(2026, 11, 22), date(2026, 11, 16)),  # a Sunday ends the week
    ],
)
def test_first_day_of_a_period(period: str, day: date, first: date) -> None:
    assert first_day_of(period, day) == first  # type: ignore[arg-type]


def test_percentile_interpolates_as_numpy() -> None:
    values = [300.0] * 7 + [2700.0] * 7
    assert percentile(values, 0.5) == pytest.approx(float(np.percentile(values, 50)))
    assert percentile(values, 0.9) == pytest.approx(float(np.percentile(values, 90)))
    assert percentile([], 0.5) is None

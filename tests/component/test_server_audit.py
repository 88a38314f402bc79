"""The audit log as a chain of custody: a view of a file once per user and 10 minutes (the
feed's thumbnails apart, hidden unless asked for), downloads and exports every time, one
alert's rows (its evidence files' included) by filter, only within the user's sites, and the
same trail inside the export package as custody.json."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from sitewatch.console.store.models import AuditEntry
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

FILES = [
    ("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes("annotated")),
    ("clip.mp4", "clip", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(2000)),
]


def _rows(console: Console) -> list[tuple[str, str, str]]:
    """(username, action, object_id) of every row but logins, oldest first."""
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.username, r.action, r.object_id) for r in rows if r.action != "login"]


def _age_rows(console: Console, minutes: int) -> None:
    """Move every audit row ``minutes`` into the past (instead of waiting)."""
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        for row in s.scalars(select(AuditEntry)):
            s.execute(
                update(AuditEntry)
                .where(AuditEntry.id == row.id)
                .values(at=row.at - timedelta(minutes=minutes))
            )


def test_a_view_is_recorded_once_per_ten_minutes_a_download_every_time(
    console: Console,
) -> None:
    add_users(console, ("zhou.min", "police", ["north"]), ("li.wei", "manager", ["north"]))
    a = seed_alert(console, files=FILES)
    police = console.login("zhou.min")
    url = f"/api/alerts/{a}/evidence/snapshot.jpg"
    assert police.get(url).status_code == 200
    assert police.get(url).status_code == 200  # again at once: the same view
    police.get(url, params={"purpose": "thumbnail"})  # shown small after a view: nothing new
    console.login("li.wei").get(url)  # another user's view is their own
    police.get(url, params={"download": "true"})
    police.get(url, params={"download": "true"})  # a download is recorded every time
    snap = f"{a}/snapshot.jpg"
    assert _rows(console) == [
        ("zhou.min", "view", snap),
        ("li.wei", "view", snap),
        ("zhou.min", "download", snap),
        ("zhou.min", "download", snap),
    ]
    _age_rows(console, 11)  # the window has passed: a view is a new row
    police.get(url)
    police.get(url)
    assert _rows(console)[-1] == ("zhou.min", "view", snap)
    assert len(_rows(console)) == 5


def test_thumbnail_views_are_their_own_rows_hidden_unless_asked(console: Console) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    a = seed_alert(console, files=FILES)
    c = console.login("zhou.min")
    base = f"/api/alerts/{a}/evidence"
    for _ in range(3):  # the feed redrawn three times: one row
        assert c.get(f"{base}/snapshot.jpg", params={"purpose": "thumbnail"}).status_code == 200
    c.get(f"{base}/clip.mp4", params={"purpose": "thumbnail"})  # a clip is watched: a view
    c.get(f"{base}/snapshot.jpg")  # opened in full after its thumbnail: a view
    assert c.get(f"{base}/snapshot.jpg", params={"purpose": "poster"}).status_code == 422
    assert _rows(console) == [
        ("zhou.min", "view_thumbnail", f"{a}/snapshot.jpg"),
        ("zhou.min", "view", f"{a}/clip.mp4"),
        ("zhou.min", "view", f"{a}/snapshot.jpg"),
    ]
    shown = c.get("/api/audit", params={"alert": a}).json()
    assert [r["action"] for r in shown] == ["view", "view"]
    every = c.get("/api/audit", params={"alert": a, "thumbnails": "true"}).json()
    assert [r["action"] for r in every] == ["view", "view", "view_thumbnail"]
    only = c.get("/api/audit", params={"action": "view_thumbnail"}).json()
    assert [r["object_id"] for r in only] == [f"{a}/snapshot.jpg"]


def test_the_alert_filter_finds_its_evidence_rows_and_pages(console: Console) -> None:
    add_users(console, ("zhou.min", "police", ["north"]), ("li.wei", "manager", ["north"]))
    a = seed_alert(console, files=FILES)
    other = seed_alert(console, files=FILES)
    m = console.login("li.wei")
    m.post(f"/api/alerts/{a}/actions", json={"action": "acknowledge", "note": "seen"})
    m.get(f"/api/alerts/{a}/evidence/clip.mp4")
    m.get(f"/api/alerts/{other}/evidence/clip.mp4")
    p = console.login("zhou.min")
    p.get(f"/api/alerts/{a}/evidence/snapshot.jpg", params={"download": "true"})
    p.get(f"/api/alerts/{a}/export")
    rows = p.get("/api/audit", params={"alert": a}).json()
    assert [(r["username"], r["action"], r["object_id"]) for r in rows] == [
        ("zhou.min", "export", a),
        ("zhou.min", "download", f"{a}/snapshot.jpg"),
        ("li.wei", "view", f"{a}/clip.mp4"),
        ("li.wei", "acknowledge", a),
    ]
    assert [
        r["action"] for r in p.get("/api/audit", params={"alert": a, "user": "li.wei"}).json()
    ] == [
        "view",
        "acknowledge",
    ]
    assert p.get("/api/audit", params={"alert": a, "action": "export"}).json()[0]["object_id"] == a
    pages = [
        p.get("/api/audit", params={"alert": a, "limit": 3, "offset": n}).json() for n in (0, 3)
    ]
    assert [len(page) for page in pages] == [3, 1] and pages[0] + pages[1] == rows
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert p.get("/api/audit", params={"alert": a, "since": later}).json() == []
    assert len(p.get("/api/audit", params={"alert": a, "until": later}).json()) == 4
    assert p.get("/api/audit", params={"alert": "no-such-alert"}).json() == []
    r = p.get("/api/audit", params={"alert": a, "since": "2030-01-01T00:00:00"})
    assert r.status_code == 422 and "time zone" in r.json()["detail"]


def test_a_user_sees_only_the_rows_of_their_sites_and_cameras(console: Console) -> None:
    add_users(
        console,
        ("north.police", "police", ["north"]),
        ("gate.police", "police", ["north"], ["north/gate"]),
        ("south.police", "police", ["south"]),
        ("north.operator", "operator", ["north"]),
        ("admin", "admin", ["*"]),
    )
    south = seed_alert(console, "south", "crane", files=FILES)
    crane = seed_alert(console, "north", "crane", files=FILES)
    admin = console.login("admin")
    for alert in (south, crane):
        admin.get(f"/api/alerts/{alert}/evidence/clip.mp4")
    south_police = console.login("south.police")
    south_police.get(f"/api/alerts/{south}/export")
    north = console.login("north.police")
    assert north.get("/api/audit", params={"alert": south}).json() == []
    assert {r["site_id"] for r in north.get("/api/audit").json()} == {"north"}
    assert north.get("/api/audit", params={"site": "south"}).status_code == 404
    assert len(north.get("/api/audit", params={"alert": crane}).json()) == 1
    gate = console.login("gate.police")  # limited to the gate camera: not the crane's rows
    assert gate.get("/api/audit", params={"alert": crane}).json() == []
    assert len(south_police.get("/api/audit", params={"alert": south}).json()) == 2
    assert console.login("north.operator").get("/api/audit").status_code == 403


def test_the_export_carries_the_alerts_chain_of_custody(console: Console, tmp_path: Path) -> None:
    add_users(console, ("zhou.min", "police", ["north"]), ("li.wei", "manager", ["north"]))
    a = seed_alert(console, files=FILES)
    other = seed_alert(console, files=FILES)
    m = console.login("li.wei")
    m.post(f"/api/alerts/{a}/actions", json={"action": "acknowledge", "note": "seen"})
    m.get(f"/api/alerts/{a}/evidence/snapshot.jpg", params={"purpose": "thumbnail"})
    m.get(f"/api/alerts/{other}/evidence/clip.mp4")
    p = console.login("zhou.min")
    p.get(f"/api/alerts/{a}/evidence/clip.mp4")
    p.get(f"/api/alerts/{a}/evidence/clip.mp4", params={"download": "true"})
    assert p.get(f"/api/alerts/{a}/export").status_code == 200  # the first package
    r = p.get(f"/api/alerts/{a}/export")
    assert r.status_code == 200
    root = f"sitewatch-alert-{a}"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    custody = json.loads(zf.read(f"{root}/custody.json"))
    assert custody["alert_id"] == a and custody["exported_by"] == "zhou.min"
    entries = [(e["username"], e["action"], e["object_id"]) for e in custody["entries"]]
    assert entries == [
        ("li.wei", "acknowledge", a),
        ("li.wei", "view_thumbnail", f"{a}/snapshot.jpg"),  # the whole trail, thumbnails too
        ("zhou.min", "view", f"{a}/clip.mp4"),
        ("zhou.min", "download", f"{a}/clip.mp4"),
        ("zhou.min", "export", a),
        ("zhou.min", "export", a),  # this one
    ]
    assert {e["client"] for e in custody["entries"]} == {"testclient"}
    assert custody["entries"][-1]["at"] == custody["exported_at"]
    # the audit log records this export with the same time, and the package's SHA-256
    last = p.get("/api/audit", params={"alert": a, "limit": 1}).json()[0]
    assert last["action"] == "export" and r.headers["x-content-sha256"] in last["detail"]
    assert datetime.fromisoformat(last["at"]) == datetime.fromisoformat(custody["exported_at"])
    manifest = json.loads(zf.read(f"{root}/manifest.json"))
    assert "custody.json" in {f["name"] for f in manifest["files"]}
    zf.extractall(tmp_path)
    check = subprocess.run(
        ["sha256sum", "-c", "manifest.sha256"],
        cwd=tmp_path / root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0 and "custody.json: OK" in check.stdout, check.stdout

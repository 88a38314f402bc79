"""Evidence files (HTTP Range, the SHA-256 custody check, the audit log) and the police export
package, checked the way a reviewer would: every hash recomputed and ``sha256sum -c``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from sitewatch.console.store.models import Alert, AuditEntry, Evidence
from tests.support.console_support import Console, add_users, clip_bytes, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return clip_bytes(tmp_path_factory.mktemp("clip"))


def _files(clip: bytes) -> list[tuple[str, str, str, bytes]]:
    return [
        ("clip.mp4", "clip", "video/mp4", clip),
        ("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes("annotated")),
        ("snapshot_clean.jpg", "snapshot_clean", "image/jpeg", jpeg_bytes("clean")),
    ]


def _audit(console: Console) -> list[tuple[str, str, str, str]]:
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.username, r.action, r.object_type, r.object_id) for r in rows]


def test_range_requests_return_the_right_bytes(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    c = console.login("zhou.min")
    url = f"/api/alerts/{alert_id}/evidence/clip.mp4"
    full = c.get(url)
    assert full.status_code == 200 and full.content == clip
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    n = len(clip)
    for header, start, end in [
        ("bytes=0-99", 0, 99),
        (f"bytes={n - 500}-", n - 500, n - 1),
        ("bytes=-200", n - 200, n - 1),
        (f"bytes=1000-{n + 50}", 1000, n - 1),  # an end past the file is clipped
    ]:
        r = c.get(url, headers={"Range": header})
        assert r.status_code == 206, (header, r.status_code)
        assert r.content == clip[start : end + 1]
        assert r.headers["content-range"] == f"bytes {start}-{end}/{n}"
        assert int(r.headers["content-length"]) == end - start + 1
    r = c.get(url, headers={"Range": f"bytes={n + 10}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{n}"


def test_views_and_downloads_are_audited(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    c = console.login("zhou.min")
    url = f"/api/alerts/{alert_id}/evidence/clip.mp4"
    for start in (0, 1000, 5000):  # a player seeking: one view, not three
        c.get(url, headers={"Range": f"bytes={start}-"})
    r = c.get(url, params={"download": "true"})
    assert r.headers["content-disposition"].startswith("attachment")
    c.get(f"/api/alerts/{alert_id}/export")
    rows = [row for row in _audit(console) if row[1] != "login"]
    assert rows == [
        ("zhou.min", "view", "evidence", f"{alert_id}/clip.mp4"),
        ("zhou.min", "download", "evidence", f"{alert_id}/clip.mp4"),
        ("zhou.min", "export", "alert", alert_id),
    ]


def test_a_file_changed_on_disk_is_refused_and_logged(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    c = console.login("zhou.min")
    url = f"/api/alerts/{alert_id}/evidence/snapshot.jpg"
    assert c.get(url).status_code == 200  # verified once: the hash is remembered...
    path = console.settings.evidence_dir / "north" / alert_id / "snapshot.jpg"
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # ...but one flipped byte, same size, makes it check again,
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with mtime put back
    r = c.get(url)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert "no longer matches the SHA-256" in detail and "not served" in detail
    assert hashlib.sha256(bytes(data)).hexdigest() in detail
    r = c.get(url, headers={"Range": "bytes=0-9"})
    assert r.status_code == 409
    r = c.get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 409 and "export refused" in r.json()["detail"]
    actions = [row[1] for row in _audit(console)]
    assert actions.count("tamper_detected") == 3
    assert "export" not in actions


def test_evidence_not_arrived_deleted_or_missing_says_so(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        evs = {e.name: e for e in s.scalars(select(Evidence))}
        evs["clip.mp4"].status = "expected"
        evs["snapshot_clean.jpg"].status = "deleted"
    (console.settings.evidence_dir / "north" / alert_id / "snapshot.jpg").unlink()
    c = console.login("zhou.min")
    base = f"/api/alerts/{alert_id}/evidence"
    r = c.get(f"{base}/clip.mp4")
    assert r.status_code == 404 and "not arrived" in r.json()["detail"]
    r = c.get(f"{base}/snapshot_clean.jpg")
    assert r.status_code == 410 and "retention" in r.json()["detail"]
    r = c.get(f"{base}/snapshot.jpg")
    assert r.status_code == 410 and "is missing" in r.json()["detail"]
    r = c.get(f"{base}/nothing.jpg")
    assert r.status_code == 404 and "no evidence file" in r.json()["detail"]


def test_export_package_verifies_against_its_manifest(
    console: Console, clip: bytes, tmp_path: Path
) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("zhou.min", "police", ["north"]))
    files = _files(clip)
    alert_id = seed_alert(console, events=3, files=files)
    m = console.login("li.wei")
    m.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge", "note": "seen"})
    m.post(f"/api/alerts/{alert_id}/actions", json={"action": "resolve", "note": "hat on"})
    r = console.login("zhou.min").get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    root = f"sitewatch-alert-{alert_id}"
    assert f'filename="{root}.zip"' in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = sorted(n.removeprefix(root + "/") for n in zf.namelist())
    assert names == sorted(
        ["evidence/clip.mp4", "evidence/snapshot.jpg", "evidence/snapshot_clean.jpg",
         "alert.json", "messages.json", "keys.json", "custody.json", "manifest.json",
         "manifest.sha256", "manifest.json.sig"]
    )  # fmt: skip
    for name, _, _, data in files:  # the very bytes the edge sent
        assert zf.read(f"{root}/evidence/{name}") == data

    manifest = json.loads(zf.read(f"{root}/manifest.json"))
    assert manifest["alert_id"] == alert_id and manifest["exported_by"] == "zhou.min"
    assert manifest["missing"] == []
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == {
        "evidence/clip.mp4", "evidence/snapshot.jpg", "evidence/snapshot_clean.jpg",
        "alert.json", "messages.json", "keys.json", "custody.json",
    }  # fmt: skip
    for name, entry in listed.items():  # recompute every hash
        data = zf.read(f"{root}/{name}")
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["size_bytes"] == len(data)
    sums = dict(
        reversed(line.split("  ", 1))  # type: ignore[misc]
        for line in zf.read(f"{root}/manifest.sha256").decode().splitlines()
    )
    assert set(sums) == set(listed) | {"manifest.json"}
    for name, digest in sums.items():
        assert digest == hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest()

    record = json.loads(zf.read(f"{root}/alert.json"))
    alert = record["alert"]
    assert alert["id"] == alert_id and alert["state"] == "resolved"
    assert [e["seq"] for e in alert["timeline"]] == [0, 1, 2]
    assert [(a["action"], a["username"], a["note"]) for a in alert["actions"]] == [
        ("acknowledge", "li.wei", "seen"),
        ("resolve", "li.wei", "hat on"),
    ]
    assert {e["name"]: e["sha256"] for e in alert["evidence"]} == {
        n: hashlib.sha256(d).hexdigest() for n, _, _, d in files
    }

    # and the reviewer's own tool, on the unzipped folder
    zf.extractall(tmp_path)
    check = subprocess.run(
        ["sha256sum", "-c", "manifest.sha256"],
        cwd=tmp_path / root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 8
    (tmp_path / root / "evidence" / "clip.mp4").write_bytes(clip[:-1] + b"\x00")  # tampered
    check = subprocess.run(
        ["sha256sum", "-c", "manifest.sha256"],
        cwd=tmp_path / root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode != 0 and "evidence/clip.mp4: FAILED" in check.stdout


def test_export_lists_evidence_that_is_not_there(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        clip_row = s.scalar(select(Evidence).where(Evidence.name == "clip.mp4"))
        clip_row.status = "expected"
    r = console.login("zhou.min").get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(zf.read(f"sitewatch-alert-{alert_id}/manifest.json"))
    assert manifest["missing"] == [{"name": "clip.mp4", "kind": "clip", "status": "expected"}]
    assert f"sitewatch-alert-{alert_id}/evidence/clip.mp4" not in zf.namelist()


def test_evidence_named_like_the_package_entries_cannot_collide(
    console: Console, tmp_path: Path
) -> None:
    """Evidence named manifest.sha256 or alert.json (attack 6) goes into evidence/: every zip
    entry is unique and the package's own manifest is the one sha256sum reads."""
    add_users(console, ("zhou.min", "police", ["north"]))
    files = [
        ("manifest.sha256", "snapshot", "image/jpeg", jpeg_bytes("one")),
        ("alert.json", "snapshot_clean", "image/jpeg", jpeg_bytes("two")),
        ("manifest.json.sig", "still", "image/jpeg", jpeg_bytes("three")),
    ]
    alert_id = seed_alert(console, files=files)
    r = console.login("zhou.min").get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = zf.namelist()
    assert len(names) == len(set(names)), f"duplicate zip entries: {names}"
    root = f"sitewatch-alert-{alert_id}"
    for name, _, _, data in files:
        assert zf.read(f"{root}/evidence/{name}") == data
    assert json.loads(zf.read(f"{root}/alert.json"))["alert"]["id"] == alert_id
    zf.extractall(tmp_path)
    check = subprocess.run(
        ["sha256sum", "-c", "manifest.sha256"],
        cwd=tmp_path / root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "evidence/manifest.sha256: OK" in check.stdout


def test_an_export_puts_the_alert_on_legal_hold(console: Console, clip: bytes) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    alert_id = seed_alert(console, files=_files(clip))
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and (alert.exported_at, alert.legal_hold) == (None, False)
    c = console.login("zhou.min")
    assert c.get(f"/api/alerts/{alert_id}/export").status_code == 200
    with state.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.legal_hold and alert.exported_at is not None
        first = alert.exported_at
    assert c.get(f"/api/alerts/{alert_id}/export").status_code == 200
    with state.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.exported_at == first  # the first export stays

"""False positives exported as training data (clean frames + the wrong boxes), on a real
SQLite file and a real PostgreSQL: only false positives, only the user's sites, only roles that
tune the system, tampering refused, the export audited."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from sitewatch.console.store.models import AuditEntry, Evidence
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

EXPORT = "/api/false-positives/export"


def _files(text: str) -> list[tuple[str, str, str, bytes]]:
    return [
        ("snap.jpg", "snapshot", "image/jpeg", jpeg_bytes(f"boxed {text}")),
        ("clean.jpg", "snapshot_clean", "image/jpeg", jpeg_bytes(text)),
    ]


def _world(console: Console) -> dict[str, str]:
    add_users(
        console,
        ("north.op", "operator", ["north"]),
        ("north.mgr", "manager", ["north"]),
        ("north.police", "police", ["north"]),
        ("south.op", "operator", ["south"]),
    )
    return {
        "fp1": seed_alert(console, "north", "gate", state="false_positive", files=_files("fp1")),
        "fp2": seed_alert(console, "north", "crane", state="false_positive", files=_files("fp2")),
        "real": seed_alert(console, "north", "gate", state="resolved", files=_files("real")),
        "south": seed_alert(console, "south", "gate", state="false_positive", files=_files("s")),
    }


def _unzip(data: bytes) -> tuple[dict[str, bytes], list[dict[str, object]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    labels = files["sitewatch-false-positives/labels.jsonl"].decode().splitlines()
    return files, [json.loads(line) for line in labels]


def test_operator_exports_the_false_positives_of_their_site(console: Console) -> None:
    ids = _world(console)
    r = console.login("north.op").get(EXPORT)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    files, labels = _unzip(r.content)
    assert {x["alert_id"] for x in labels} == {ids["fp1"], ids["fp2"]}
    for x in labels:
        image = files[f"sitewatch-false-positives/{x['image']}"]
        name = "fp1" if x["alert_id"] == ids["fp1"] else "fp2"
        assert image == jpeg_bytes(name)  # the clean frame, not the annotated one
        assert x["label"] == "head" and len(x["box"]) == 4  # type: ignore[arg-type]
    assert "2 image(s)" in files["sitewatch-false-positives/README.txt"].decode()
    one = console.login("north.op").get(EXPORT, params={"camera": "crane", "site": "north"})
    assert [x["alert_id"] for x in _unzip(one.content)[1]] == [ids["fp2"]]
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        q = select(AuditEntry).where(AuditEntry.action == "export_training")
        rows = s.scalars(q.order_by(AuditEntry.id)).all()
        assert [(a.username, a.detail) for a in rows] == [
            ("north.op", "2 image(s)"),
            ("north.op", "1 image(s)"),
        ]


def test_other_sites_and_other_roles_get_nothing(console: Console) -> None:
    ids = _world(console)
    south = _unzip(console.login("south.op").get(EXPORT).content)[1]
    assert [x["alert_id"] for x in south] == [ids["south"]]
    assert console.login("south.op").get(EXPORT, params={"site": "north"}).status_code == 404
    for who in ("north.mgr", "north.police"):
        assert console.login(who).get(EXPORT).status_code == 403, who


def test_a_tampered_snapshot_refuses_the_export(console: Console) -> None:
    ids = _world(console)
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        row = s.scalar(
            select(Evidence).where(Evidence.alert_id == ids["fp1"], Evidence.name == "clean.jpg")
        )
        assert row is not None and row.path is not None
        path = row.path
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    r = console.login("north.op").get(EXPORT)
    assert r.status_code == 409 and "export refused" in r.json()["detail"]

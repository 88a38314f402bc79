"""The police package's alert.json is its own versioned record, built from the models: it
carries today's fields whatever the API's response model becomes (issue 13)."""

from __future__ import annotations

import io
import json
import zipfile

from sitewatch.console.domain.export import ALERT_RECORD, alert_record
from sitewatch.console.domain.queries import alert_detail
from sitewatch.console.store.models import Alert
from tests.support.console_support import (  # noqa: F401
    Console,
    add_users,
    console_fixture,
    jpeg_bytes,
    seed_alert,
)

ALERT_KEYS = {
    *("id", "site_id", "camera_id", "rule", "track_id", "zone_id", "label", "score", "box"),
    *("started_at", "last_seen_at", "ended_at", "event", "seq", "config_version", "state"),
    *("assignee", "received_at", "updated_at", "acknowledged_at", "closed_at", "snapshot_url"),
    "incident_id",
    *("timeline", "actions", "evidence"),
}


def test_alert_json_is_a_versioned_record_of_the_alert(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("zhou.min", "police", ["north"]))
    files = [("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes("annotated"))]
    alert_id = seed_alert(console, events=2, files=files)
    m = console.login("li.wei")
    m.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge", "note": "seen"})
    r = console.login("zhou.min").get(f"/api/alerts/{alert_id}/export")
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    record = json.loads(zf.read(f"sitewatch-alert-{alert_id}/alert.json"))
    assert record["record"] == ALERT_RECORD == "sitewatch.package_alert/2"
    assert set(record) == {"record", "alert", "exported_by", "exported_at"}
    assert set(record["alert"]) == ALERT_KEYS
    assert record["alert"]["snapshot_url"] == f"/api/alerts/{alert_id}/evidence/snapshot.jpg"
    assert [(a["action"], a["note"]) for a in record["alert"]["actions"]] == [
        ("acknowledge", "seen")
    ]
    assert [e["seq"] for e in record["alert"]["timeline"]] == [0, 1]


def test_the_record_says_what_the_api_says_today(console: Console) -> None:
    """Same content as the API's detail now; when the API changes, this test is where the record
    is decided on (keep it, or bump ALERT_RECORD), not a silent change of the legal artefact."""
    add_users(console, ("li.wei", "manager", ["north"]))
    alert_id = seed_alert(console, events=3)
    console.login("li.wei").post(
        f"/api/alerts/{alert_id}/actions", json={"action": "assign", "assignee": "li.wei"}
    )
    with console.state.db.session() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        api = alert_detail(s, alert).model_dump(mode="json")
        # kept out of the record (no new version): the files' states in brief, which the
        # record's evidence carries whole
        del api["evidence_files"]
        assert alert_record(s, alert)["alert"] == api

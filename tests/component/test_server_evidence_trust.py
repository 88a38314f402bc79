"""Evidence the edge vouches for, and facts fixed once reviewed (issue 12, attacks 3 and 4), on a
real mosquitto and a real SQLite file: a forged listing or forged bytes lose to the genuine
ones, a reviewed or exported alert keeps its facts (refusals counted and audited), and an
exported alert's evidence survives retention."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.domain import retention
from sitewatch.console.store.evidence import EvidenceStore
from sitewatch.console.store.models import (
    Alert,
    AlertEventRow,
    AuditEntry,
    BrokerAccount,
    Evidence,
    IngestReject,
)
from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from tests.support.console_support import (
    Console,
    add_users,
    console_fixture,  # noqa: F401
    jpeg_bytes,
    seed_alert,
)
from tests.support.ingest_support import (
    CLIP,
    JPEG,
    Edge,
    LiveConsole,
    alert,
    edge_of,
    evidence_file,
    live_console,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401

FAKE = b"\xff\xd8\xff\xe0" + b"forged bytes " * 64 + b"\xff\xd9"


def register_edge(console: LiveConsole | Console, site: str, key: Ed25519PrivateKey) -> None:
    """What 'sitewatch server add-edge' stores, written directly (the password is not used)."""
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        s.add(
            BrokerAccount(
                username=f"edge-{site}",
                role="edge",
                site_id=site,
                password_hash="$7$unused",
                public_key=public_key_text(key),
            )
        )


def send(edge: Edge, msg: m.AlertEvent, key: Ed25519PrivateKey | None = None) -> None:
    edge.alert(sign(msg, key) if key is not None else msg)


def audit_rows(console: LiveConsole, action: str) -> list[AuditEntry]:
    return console.rows(AuditEntry, AuditEntry.action == action)


def test_a_forged_listing_first_loses_to_the_genuine_start(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Attack 3: a sender lists the alert's file before the edge does. Refused whole (unsigned,
    or signed by another key), it marks nothing as seen: the genuine start and its file win."""
    edge_key, thief = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    forged = alert(aid, 0, label="nobody", evidence=[evidence_file("snap.jpg", FAKE)])
    genuine = alert(aid, 0, evidence=[evidence_file("snap.jpg", JPEG)])
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        register_edge(console, "north", edge_key)
        edge.evidence("north", aid, "snap.jpg", FAKE)
        send(edge, forged)  # unsigned
        send(edge, forged, thief)  # signed, by a key that is not the site's
        edge.evidence("north", aid, "snap.jpg", JPEG)
        send(edge, genuine, edge_key)
        console.settle(edge.sent)

        [kept] = console.rows(Alert)
        assert (kept.label, kept.seq) == ("head", 0)
        [row] = console.rows(AlertEventRow)
        assert row.signed and row.payload["signature"] == sign(genuine, edge_key).signature
        [ev] = console.rows(Evidence)
        assert (ev.status, ev.signed, ev.sha256) == (
            "stored",
            True,
            hashlib.sha256(JPEG).hexdigest(),
        )
        assert Path(str(ev.path)).read_bytes() == JPEG
        reasons = [r.reason for r in console.rows(IngestReject)]
        assert len(reasons) == 2 and console.ingest.rejected == 2
        assert "got it unsigned" in reasons[0] and "signed with another key" in reasons[1]


def test_bytes_published_under_the_edge_s_file_name_never_replace_them(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Forged bytes right after the edge's (before its listing) or right before them: the
    signed listing's SHA-256 decides; once stored, other bytes under its name are refused."""
    key = Ed25519PrivateKey.generate()
    after, before = uuid.uuid4(), uuid.uuid4()
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        register_edge(console, "north", key)
        edge.evidence("north", after, "clip.mp4", CLIP)
        edge.evidence("north", after, "clip.mp4", CLIP[:-1] + b"\x00")  # overwrites the stage
        send(edge, alert(after, 0, evidence=[evidence_file("clip.mp4", CLIP, "clip")]), key)
        edge.evidence("north", before, "clip.mp4", CLIP[:-1] + b"\x00")
        edge.evidence("north", before, "clip.mp4", CLIP)
        send(edge, alert(before, 0, evidence=[evidence_file("clip.mp4", CLIP, "clip")]), key)
        console.settle(edge.sent)
        rows = console.rows(Evidence)
        assert [(e.status, e.signed) for e in rows] == [("stored", True)] * 2
        assert all(Path(str(e.path)).read_bytes() == CLIP for e in rows)
        incoming = console.settings.evidence_dir / "_incoming"
        assert not [p for p in incoming.rglob("*") if p.is_file()]  # the forged copies are gone

        listed = uuid.uuid4()  # listed first: forged bytes are a mismatch until the edge's come
        send(edge, alert(listed, 0, evidence=[evidence_file("snap.jpg", JPEG)]), key)
        edge.evidence("north", listed, "snap.jpg", FAKE)
        console.settle(edge.sent)
        [row] = console.rows(Evidence, Evidence.alert_id == str(listed))
        assert row.status == "mismatch"
        edge.evidence("north", listed, "snap.jpg", JPEG)
        console.settle(edge.sent)
        [row] = console.rows(Evidence, Evidence.alert_id == str(listed))
        assert row.status == "stored" and Path(str(row.path)).read_bytes() == JPEG
        [mismatch] = console.rows(IngestReject)
        assert "was refused (not kept)" in mismatch.reason

        edge.evidence("north", after, "clip.mp4", CLIP[:-1] + b"\x00")
        console.settle(edge.sent)
        [_, refused] = console.rows(IngestReject)
        assert "refused, not kept" in refused.reason and hashlib.sha256(CLIP).hexdigest() in (
            refused.reason
        )
        clips = console.rows(Evidence, Evidence.name == "clip.mp4")
        assert len(clips) == 2 and all(Path(str(e.path)).read_bytes() == CLIP for e in clips)


def test_an_open_site_s_listing_is_unverified_until_a_signed_one_replaces_it(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Open site: an unsigned listing is kept but marked unverified. Once the site's edge is
    registered, its signed start replaces the forged message and listing, and the forged bytes."""
    key = Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        edge.evidence("north", aid, "snap.jpg", FAKE)
        send(edge, alert(aid, 0, label="nobody", evidence=[evidence_file("snap.jpg", FAKE)]))
        console.settle(edge.sent)
        [ev] = console.rows(Evidence)
        assert (ev.status, ev.signed) == ("stored", False)
        forged_path = Path(str(ev.path))
        assert forged_path.read_bytes() == FAKE

        register_edge(console, "north", key)
        edge.evidence("north", aid, "snap.jpg", JPEG)  # staged: the stored file is unverified
        send(edge, alert(aid, 0, evidence=[evidence_file("snap.jpg", JPEG)]), key)
        console.settle(edge.sent)
        [ev] = console.rows(Evidence)
        assert (ev.status, ev.signed, ev.sha256) == (
            "stored",
            True,
            hashlib.sha256(JPEG).hexdigest(),
        )
        assert Path(str(ev.path)).read_bytes() == JPEG
        [row] = console.rows(AlertEventRow)
        assert row.signed and row.payload["label"] == "head"
        assert [a.label for a in console.rows(Alert)] == ["head"]
        [reject] = console.rows(IngestReject)
        assert "verified listing" in reject.reason and "replaced an unverified one" in reject.reason
        assert len(audit_rows(console, "ingest_replaced")) == 1
        assert [a.username for a in audit_rows(console, "ingest_refused")] == ["ingest"]


def test_facts_are_fixed_once_acknowledged_and_the_timeline_still_grows(
    tmp_path: Path, broker: Mosquitto
) -> None:
    aid = uuid.uuid4()
    box = (0.1, 0.1, 0.2, 0.3)
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        add_users(console, ("li.wei", "manager", ["north"]))
        edge.evidence("north", aid, "snap.jpg", JPEG)
        send(edge, alert(aid, 0, box=box, score=0.6, evidence=[evidence_file("snap.jpg", JPEG)]))
        console.settle(edge.sent)
        r = console.login("li.wei").post(
            f"/api/alerts/{aid}/actions", json={"action": "acknowledge", "note": "seen"}
        )
        assert r.status_code == 200, r.text

        rewrite = alert(
            aid, 1, rule="smoking", label="cigarette", score=0.99, box=(0.5, 0.5, 0.6, 0.6),
            started_at=datetime(2026, 5, 4, 7, 0, tzinfo=UTC),
            evidence=[evidence_file("snap.jpg", JPEG), evidence_file("extra.jpg", FAKE)],
        )  # fmt: skip
        send(edge, rewrite)
        end = alert(aid, 2, end=True, box=box, score=0.6)
        send(edge, end)
        console.settle(edge.sent)

        [kept] = console.rows(Alert)
        assert (kept.rule, kept.label, kept.score, kept.box) == (
            "no_helmet",
            "head",
            0.6,
            list(box),
        )
        assert kept.started_at == alert(aid, 0).started_at
        assert (kept.seq, kept.event, kept.ended_at) == (2, "end", end.ended_at)
        assert kept.last_seen_at == end.last_seen_at and kept.state == "acknowledged"
        assert [e.name for e in console.rows(Evidence)] == ["snap.jpg"]
        assert sorted(t.seq for t in console.rows(AlertEventRow)) == [0, 1, 2]
        reasons = [r.reason for r in console.rows(IngestReject)]
        assert len(reasons) == 2 and console.ingest.rejected == 2
        assert "rule 'no_helmet'" in reasons[0] and "label 'cigarette'" in reasons[0]
        assert "extra.jpg" in reasons[1] and "no file is added" in reasons[1]
        refused = audit_rows(console, "ingest_refused")
        assert [(a.username, a.object_id) for a in refused] == [("ingest", str(aid))] * 2
        assert [a.detail for a in refused] == reasons


def test_after_review_the_edge_still_adds_its_clip_but_replaces_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """The edge lists its clip in an update seconds after the start: acknowledged at once, the
    alert still gets it from the signed update; a signed change of a listed file is refused, and
    after an export nothing is added."""
    key = Ed25519PrivateKey.generate()
    aid = uuid.uuid4()
    snap, clip = evidence_file("snap.jpg", JPEG), evidence_file("clip.mp4", CLIP, "clip")
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        register_edge(console, "north", key)
        add_users(console, ("li.wei", "manager", ["north"]), ("zhou.min", "police", ["north"]))
        edge.evidence("north", aid, "snap.jpg", JPEG)
        start = alert(aid, 0, evidence=[snap])
        send(edge, start, key)
        console.settle(edge.sent)
        r = console.login("li.wei").post(
            f"/api/alerts/{aid}/actions", json={"action": "acknowledge", "note": "on it"}
        )
        assert r.status_code == 200, r.text
        same = {"score": start.score, "box": start.box}
        edge.evidence("north", aid, "clip.mp4", CLIP)
        send(edge, alert(aid, 1, evidence=[snap, clip], **same), key)
        console.settle(edge.sent)
        assert {e.name: e.status for e in console.rows(Evidence)} == {
            "snap.jpg": "stored",
            "clip.mp4": "stored",
        }
        assert console.rows(IngestReject) == []

        swapped = evidence_file("snap.jpg", FAKE)
        send(edge, alert(aid, 2, evidence=[swapped, clip], **same), key)
        console.settle(edge.sent)
        assert console.login("zhou.min").get(f"/api/alerts/{aid}/export").status_code == 200
        send(edge, alert(aid, 3, evidence=[snap, clip, evidence_file("still.jpg", JPEG, "still")],
                         **same), key)  # fmt: skip
        console.settle(edge.sent)
        assert sorted(e.name for e in console.rows(Evidence)) == ["clip.mp4", "snap.jpg"]
        [snap_row] = console.rows(Evidence, Evidence.name == "snap.jpg")
        assert Path(str(snap_row.path)).read_bytes() == JPEG
        reasons = [r.reason for r in console.rows(IngestReject)]
        assert len(reasons) == 2 and "kept the first listing" in reasons[0]
        assert "still.jpg" in reasons[1] and "was exported" in reasons[1]
        assert len(audit_rows(console, "ingest_refused")) == 2


def test_facts_are_fixed_once_exported_even_while_new(tmp_path: Path, broker: Mosquitto) -> None:
    aid = uuid.uuid4()
    with live_console(tmp_path, broker) as console, edge_of(broker) as edge:
        add_users(console, ("zhou.min", "police", ["north"]))
        send(edge, alert(aid, 0))
        console.settle(edge.sent)
        assert console.login("zhou.min").get(f"/api/alerts/{aid}/export").status_code == 200
        send(edge, alert(aid, 1, score=0.5, box=alert(aid, 0).box, label="person"))
        console.settle(edge.sent)
        [kept] = console.rows(Alert)
        assert (kept.state, kept.label, kept.seq, kept.legal_hold) == ("new", "head", 1, True)
        [reason] = [r.reason for r in console.rows(IngestReject)]
        assert "was exported" in reason and "label 'head'" in reason
        assert len(audit_rows(console, "ingest_refused")) == 1


def test_exported_evidence_is_on_legal_hold_and_survives_retention(console: Console) -> None:
    add_users(console, ("zhou.min", "police", ["north"]))
    closed = datetime.now(UTC) - timedelta(days=400)
    files = [("snap.jpg", "snapshot", "image/jpeg", jpeg_bytes("held"))]
    held = seed_alert(console, state="resolved", closed_at=closed, files=files)
    other = seed_alert(console, state="resolved", closed_at=closed, files=files)
    assert console.login("zhou.min").get(f"/api/alerts/{held}/export").status_code == 200
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    result = retention.sweep(state.db, EvidenceStore(console.settings.evidence_dir), 30.0)
    assert (result.files_deleted, result.rows_marked) == (1, 1)
    with state.db.session() as s:
        status = {e.alert_id: e.status for e in s.query(Evidence)}
    assert status == {held: "stored", other: "deleted"}
    assert (console.settings.evidence_dir / "north" / held / "snap.jpg").is_file()
    assert not (console.settings.evidence_dir / "north" / other / "snap.jpg").exists()

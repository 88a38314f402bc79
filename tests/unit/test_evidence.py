"""Snapshots, hashes, the evidence store and disk management by hours of recording left."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from sitewatch.edge.evidence.files import (
    ZONE_COLOUR,
    DiskItem,
    DiskManager,
    EvidenceFileInfo,
    draw_snapshot,
    evidence_folder,
    hours_left,
    plan_deletions,
    sha256_file,
    write_snapshots,
)
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.video.recorder import SegmentRing

GB = 10**9
ALERT = "3f2b8c1e-5d4a-4b7e-9c2d-1a2b3c4d5e6f"


def test_sha256_file_streams_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk=1024) == hashlib.sha256(data).hexdigest()


def test_evidence_folder_uses_the_site_date() -> None:
    t = datetime(2024, 1, 1, 23, 30, tzinfo=UTC).timestamp()  # already Jan 2 in Shanghai
    folder = evidence_folder(Path("/ev"), "site1", "cam1", t, ZoneInfo("Asia/Shanghai"))
    assert folder == Path("/ev/site1/cam1/2024-01-02")


def test_snapshots_annotated_and_clean_with_hashes(tmp_path: Path) -> None:
    frame = np.full((360, 640, 3), 128, np.uint8)
    zone = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
    folder = tmp_path / "site1" / "cam1" / "2024-01-02"
    drawn, clean = write_snapshots(
        frame, ALERT, folder, [(300.0, 100.0, 340.0, 140.0)], ["head"], [0.91], zone, "deck"
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{ALERT}_snapshot.jpg",
        f"{ALERT}_snapshot_clean.jpg",
    ]  # and no temp files
    for info, kind in ((drawn, "snapshot"), (clean, "snapshot_clean")):
        assert (info.kind, info.content_type, info.name) == (kind, "image/jpeg", info.path.name)
        assert info.sha256 == sha256_file(info.path)
        assert info.size_bytes == info.path.stat().st_size
        assert info.to_message().sha256 == info.sha256  # passes the contract's validation
    clean_img = cv2.imread(str(clean.path))
    drawn_img = cv2.imread(str(drawn.path))
    assert np.abs(clean_img.astype(int) - 128).max() <= 3  # untouched (up to JPEG noise)
    edge = drawn_img[180, 160].astype(int)  # on the zone's left edge (x = 0.25 * 640)
    assert np.abs(edge - ZONE_COLOUR).max() < 40
    assert np.abs(drawn_img[100:141, 300].astype(int) - 128).max() > 60  # the box's left side


def test_draw_snapshot_wants_one_label_and_score_per_box() -> None:
    frame = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="one label and score per box, got 1 boxes, 0 labels"):
        draw_snapshot(frame, [(0.0, 0.0, 1.0, 1.0)], [], [0.5], [])


def test_evidence_store_persists_and_protects_open_alerts(tmp_path: Path) -> None:
    index = tmp_path / "evidence.db"
    store = EvidenceIndex(index)
    info = EvidenceFileInfo("clip", "a_clip.mp4", tmp_path / "a_clip.mp4", 1, "0" * 64, "video/mp4")
    store.open_alert("a", at=100.0)
    store.add_files("a", [info, info])
    assert store.is_open("a")
    with pytest.raises(ValueError, match="is open: its evidence is never deleted"):
        store.forget_file("a", info.path)
    store.close_alert("a", at=150.0)
    reloaded = EvidenceIndex(index)
    record = reloaded.alerts()["a"]
    assert (record.open, record.opened_at, record.closed_at) == (False, 100.0, 150.0)
    assert record.files == [str(info.path)]
    reloaded.forget_file("a", info.path)
    assert EvidenceIndex(index).alerts() == {}


def test_evidence_index_imports_the_old_json_index_once(tmp_path: Path) -> None:
    """Edges upgraded from the JSON index keep their alerts: open ones stay protected."""
    old = {
        "alerts": {
            "a": {"open": True, "opened_at": 1.0, "closed_at": None, "files": ["/e/a.jpg"]},
            "b": {"open": False, "opened_at": 2.0, "closed_at": 3.0, "files": ["/e/b.jpg"]},
        }
    }
    (tmp_path / "evidence_index.json").write_text(json.dumps(old))
    store = EvidenceIndex(tmp_path / "evidence_index.db")
    assert store.is_open("a") and not store.is_open("b")
    assert store.alerts()["b"].files == ["/e/b.jpg"] and store.alerts()["b"].closed_at == 3.0
    assert not (tmp_path / "evidence_index.json").exists()
    assert (tmp_path / "evidence_index.json.imported").exists()
    store.close()
    assert set(EvidenceIndex(tmp_path / "evidence_index.db").alerts()) == {"a", "b"}


def test_unreadable_evidence_index_says_what_to_do(tmp_path: Path) -> None:
    index = tmp_path / "evidence_index.db"
    index.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match=r"evidence index .*unreadable.*move it aside"):
        EvidenceIndex(index)


def test_hours_left_arithmetic() -> None:
    assert hours_left(10 * GB, 2 * GB) == 5.0
    assert hours_left(GB, 4 * GB) == 0.25
    assert hours_left(GB, 0.0) == float("inf")  # nothing recorded yet


def item(name: str, t: float, gb: float, kind: str, protected: bool = False) -> DiskItem:
    alert = "" if kind == "segment" else name
    return DiskItem(Path(name), t, int(gb * GB), kind, protected, alert)  # type: ignore[arg-type]


ITEMS = [
    item("seg1", 100, 1, "segment"),
    item("seg2", 200, 1, "segment", protected=True),  # pinned for a clip being cut
    item("seg3", 300, 1, "segment"),
    item("old", 0, 0.5, "evidence"),  # closed long ago: past retention
    item("recent", 250, 2, "evidence"),  # closed, within retention
    item("open", 50, 5, "evidence", protected=True),  # an open alert
]


@pytest.mark.parametrize(
    ("min_hours", "expected"),
    [
        (1.0, [("old", "retention")]),  # retention runs whatever the disk
        (2.0, [("old", "retention"), ("seg1", "disk: ring")]),
        (
            4.0,
            [
                ("old", "retention"),
                ("seg1", "disk: ring"),
                ("seg3", "disk: ring"),
                ("recent", "disk: evidence"),
            ],
        ),
        (
            100.0,  # cannot be met: everything unprotected goes, open and pinned stay
            [
                ("old", "retention"),
                ("seg1", "disk: ring"),
                ("seg3", "disk: ring"),
                ("recent", "disk: evidence"),
            ],
        ),
    ],
)
def test_plan_deletions_order_never_touches_open_or_pinned(
    min_hours: float, expected: list[tuple[str, str]]
) -> None:
    # 1 GB free, 1 GB recorded per hour: 1 h left before any deletion
    plan = plan_deletions(ITEMS, GB, float(GB), min_hours, now=1000.0, retention_s=900.0)
    assert [(d.item.path.name, d.reason) for d in plan] == expected


def test_disk_manager_deletes_files_and_keeps_open_evidence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ring_dir = tmp_path / "ring"
    ring_dir.mkdir()
    rows = []
    for i in range(4):  # four 2 s segments of 1000 bytes recorded from t=1000: 1.8 MB/h
        seg = ring_dir / f"r1-{i:06d}.ts"
        seg.write_bytes(b"\0" * 1000)
        os.utime(seg, (1002.0 + 2 * i, 1002.0 + 2 * i))
        rows.append(f"{seg.name},{2 * i}.0,{2 * i + 2}.0")
    (ring_dir / "r1.csv").write_text("\n".join(rows) + "\n")
    os.utime(ring_dir / "r1.csv", (1008.0, 1008.0))
    ring = SegmentRing(ring_dir)
    ring.pin("open-alert", 1006.5, 1007.0)  # the newest segment
    store = EvidenceIndex(tmp_path / "evidence.db")
    for alert, closed in (("closed", 900.0), ("open", None)):
        path = tmp_path / f"{alert}_snapshot.jpg"
        path.write_bytes(b"\xff" * 500)
        info = EvidenceFileInfo("snapshot", path.name, path, 500, "0" * 64, "image/jpeg")
        store.open_alert(alert, at=800.0)
        store.add_files(alert, [info])
        if closed is not None:
            store.close_alert(alert, at=closed)
    manager = DiskManager(
        tmp_path, [ring], store, min_free_hours=1.0, retention_days=1.0, free_bytes=lambda p: 0
    )
    assert manager.bytes_per_hour() == pytest.approx(1000 / 2 * 3600)
    assert manager.hours_left() == 0.0
    with caplog.at_level(logging.WARNING, logger="sitewatch.edge.evidence.files"):
        report = manager.run(now=1010.0)
    assert [d.item.path.name for d in report.deleted] == [
        "r1-000000.ts",
        "r1-000001.ts",
        "r1-000002.ts",
        "closed_snapshot.jpg",
    ]
    assert report.hours_left == pytest.approx(3500 / 1.8e6)
    assert [s.path.name for s in ring.segments()] == ["r1-000003.ts"]
    assert (tmp_path / "open_snapshot.jpg").exists()
    assert not (tmp_path / "closed_snapshot.jpg").exists()
    assert list(store.alerts()) == ["open"]
    assert "h of recording left" in caplog.text
    assert "still only" in caplog.text  # what is left is protected: says so

"""Alert delivery into a real outbox: the start goes first, its snapshots follow in an update,
evidence files (by reference) always precede the message that lists them, and an end waits for
its evidence."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from sitewatch.contract import messages as m
from sitewatch.edge.analysis.alerts import AlertTransition
from sitewatch.edge.detections import AnalysedFrame, Detections
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.publish.delivery import AlertDelivery
from sitewatch.edge.publish.outbox import Outbox, Row


def _delivery(tmp_path: Path) -> tuple[AlertDelivery, Outbox]:
    outbox = Outbox(tmp_path / "outbox.db")
    delivery = AlertDelivery(
        site_id="s1", prefix="sitewatch", outbox=outbox,
        store=EvidenceIndex(tmp_path / "index.db"), evidence_dir=tmp_path, tz="UTC",
        pre_roll_s=1.0, post_roll_s=1.0, rings={}, config_version=lambda: "v1",
    )  # fmt: skip
    return delivery, outbox


def _step(alert_id: str, event: str, seq: int, now: float) -> AlertTransition:
    return AlertTransition(
        alert_id, event, seq, "cam1", "no_helmet", 7, "work", "head", 0.8,  # type: ignore[arg-type]
        (10.0, 10.0, 50.0, 50.0), (0.1, 0.1, 0.2, 0.2), now, now, now,
        now + 3 if event == "end" else None,
    )  # fmt: skip


def _frame() -> AnalysedFrame:
    image = np.random.default_rng(1).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    return AnalysedFrame(time.time(), image, Detections.empty())


def _messages(rows: list[Row]) -> list[tuple[str, m.AlertEvent | str]]:
    """Each row as ("alert", the event) or ("file", its name)."""
    return [
        ("alert", m.decode(r.payload, m.AlertEvent))
        if r.topic.endswith("/alerts")
        else ("file", r.topic.rsplit("/", 1)[1])
        for r in rows
    ]


def _wait_rows(outbox: Outbox, count: int) -> list[Row]:
    deadline = time.monotonic() + 10
    while (rows := outbox.pending()) and len(rows) < count:
        assert time.monotonic() < deadline, f"{len(rows)} outbox rows, expected {count}"
        time.sleep(0.01)
    return rows


def test_the_start_goes_first_and_its_snapshots_follow(tmp_path: Path) -> None:
    delivery, outbox = _delivery(tmp_path)
    alert_id, now = str(uuid.uuid4()), time.time()
    delivery.start()
    try:
        delivery.handle(_step(alert_id, "start", 0, now), _frame(), None)
        raw = _wait_rows(outbox, 4)
        rows = _messages(raw)
    finally:
        delivery.stop(timeout_s=5)
    for row in raw[1:3]:  # the outbox refers to the evidence files, it does not copy them
        assert row.payload == b"" and row.file is not None and row.file.is_file()
        assert row.load() == row.file.read_bytes()
    kinds = [k for k, _ in rows]
    assert kinds == ["alert", "file", "file", "alert"], rows
    start, update = rows[0][1], rows[3][1]
    assert isinstance(start, m.AlertEvent) and isinstance(update, m.AlertEvent)
    assert (start.event, start.seq, start.evidence) == ("start", 0, [])
    assert (update.event, update.seq) == ("update", 1)
    listed = {f.name for f in update.evidence}
    assert listed == {rows[1][1], rows[2][1]}
    assert {f.kind for f in update.evidence} == {"snapshot", "snapshot_clean"}
    for f in update.evidence:
        assert (tmp_path / "s1").exists() and any(tmp_path.rglob(f.name))


def test_an_end_before_the_snapshots_waits_for_them(tmp_path: Path) -> None:
    """The alert ends before the snapshot thread ran (it is started after both steps): the end
    is held, then sent once, listing the snapshots, after their bytes."""
    delivery, outbox = _delivery(tmp_path)
    alert_id, now = str(uuid.uuid4()), time.time()
    delivery.handle(_step(alert_id, "start", 0, now), _frame(), None)
    delivery.handle(_step(alert_id, "end", 1, now), None, None)
    assert len(outbox.pending()) == 1, "only the start: the end waits for the snapshots"
    delivery.start()
    try:
        rows = _messages(_wait_rows(outbox, 4))
    finally:
        delivery.stop(timeout_s=5)
    assert [k for k, _ in rows] == ["alert", "file", "file", "alert"], rows
    end = rows[3][1]
    assert isinstance(end, m.AlertEvent) and end.event == "end" and end.seq == 1
    assert {f.kind for f in end.evidence} == {"snapshot", "snapshot_clean"}
    time.sleep(0.2)
    assert len(outbox.pending()) == 4, "nothing after the end"

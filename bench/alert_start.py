"""Cost of an alert's start on the edge, against how many alerts the evidence index holds.

    .venv/bin/python -m bench.alert_start [--sizes 0,1000,5000] [--starts 56]

Not a test: a measurement, reported in bench/RESULTS.md ("Alert start and the evidence index").
An alert's start as ``AlertDelivery`` makes it (the start message, two snapshot JPEGs of a
640x360 frame with their hashes and fsyncs, the evidence index, the outbox rows of the files
and of the update listing them) on this disk, in one process, side by side:

* **SiteWatch**: the evidence index as it is now (``sitewatch.edge.evidence.index``, SQLite,
  one small transaction per change);
* **baseline**: the JSON index it replaced (below, as it was: the whole index rewritten
  atomically on every change).

Each index is first filled with ``size`` closed alerts of four files each (a week of a busy
site holds thousands). Per start, medians of ``--rounds`` rounds of ``--starts`` starts at once
(an in-phase alert storm): the wall time until every row is in the outbox, the CPU time of
the process, and the time ``handle`` held the caller (the edge's main loop).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch.edge.analysis.alerts import AlertTransition
from sitewatch.edge.atomic import write_atomic
from sitewatch.edge.detections import AnalysedFrame, Detections
from sitewatch.edge.evidence.files import EvidenceFileInfo
from sitewatch.edge.evidence.index import AlertFiles, EvidenceIndex
from sitewatch.edge.publish.delivery import AlertDelivery
from sitewatch.edge.publish.outbox import Outbox


class JsonIndex:
    """The baseline: the evidence index before 2026-11-23, one JSON file saved on every change."""

    def __init__(self, path: Path) -> None:
        self.path, self._alerts, self._lock = path, dict[str, AlertFiles](), threading.RLock()

    def open_alert(self, alert_id: str, at: float) -> None:
        with self._lock:
            self._alerts.setdefault(alert_id, AlertFiles(True, at))
            self._save()

    def add_files(self, alert_id: str, files: Sequence[EvidenceFileInfo]) -> None:
        with self._lock:
            record = self._alerts.setdefault(alert_id, AlertFiles(True, time.time()))
            record.files += [str(f.path) for f in files if str(f.path) not in record.files]
            self._save()

    def close_alert(self, alert_id: str, at: float) -> None:
        with self._lock:
            self._alerts[alert_id].open, self._alerts[alert_id].closed_at = False, at
            self._save()

    def _save(self) -> None:
        data = {"alerts": {k: vars(v) for k, v in self._alerts.items()}}
        write_atomic(self.path, json.dumps(data, indent=1).encode())


def fill(index: Any, size: int) -> None:
    """``size`` closed alerts of four files each, as a week of alerts leaves them."""
    for i in range(size):
        alert = str(uuid.uuid4())
        names = ("snapshot.jpg", "snapshot_clean.jpg", "clip.mp4", "still.jpg")
        files = [
            EvidenceFileInfo("snapshot", n, Path(f"/e/site/cam{i % 25}/{alert}_{n}"), 1, "0", "")
            for n in names
        ]
        if isinstance(index, JsonIndex):  # one save, not 3 per alert: filling is not measured
            index._alerts[alert] = AlertFiles(False, 1.0, 2.0, [str(f.path) for f in files])
        else:
            index.open_alert(alert, 1.0)
            index.add_files(alert, files)
            index.close_alert(alert, 2.0)
    if isinstance(index, JsonIndex):
        index._save()


def per_start(index: Any, folder: Path, starts: int, rounds: int) -> tuple[float, float, float]:
    """Median wall, CPU and main-loop ms of one start, over ``rounds`` rounds of ``starts``."""
    outbox = Outbox(folder / "outbox.db")
    delivery = AlertDelivery(
        site_id="s", prefix="sitewatch", outbox=outbox, store=index,
        evidence_dir=folder, tz="UTC", pre_roll_s=4, post_roll_s=4, rings={},
        config_version=lambda: "v1",
    )  # fmt: skip
    image = (np.random.default_rng(0).random((360, 640, 3)) * 255).astype(np.uint8)
    frame = AnalysedFrame(time.time(), image, Detections.empty())

    def start(i: int) -> None:
        now = time.time()
        t = AlertTransition(
            str(uuid.uuid4()), "start", 0, f"cam{i % 28}", "no_helmet", i, "z", "head", 0.8,
            (10, 10, 50, 50), (0.1, 0.1, 0.2, 0.2), now, now, now, None,
        )  # fmt: skip
        delivery.handle(t, frame, None)

    delivery.start()
    walls, cpus, loops = [], [], []
    for r in range(rounds + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(starts):
            start(i)
        held = time.perf_counter() - w0
        while outbox.depth() < 4 * starts * (r + 1):  # start, 2 files, the update listing them
            time.sleep(0.001)
        if r:  # the first round warms up
            walls.append((time.perf_counter() - w0) / starts * 1000)
            cpus.append((time.process_time() - c0) / starts * 1000)
            loops.append(held / starts * 1000)
    delivery.stop(timeout_s=5)
    return statistics.median(walls), statistics.median(cpus), statistics.median(loops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0,1000,5000", help="alerts already in the index")
    ap.add_argument("--starts", type=int, default=56, help="starts per round")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(
        "| alerts in index | SiteWatch ms/start: wall (CPU, main loop) | baseline JSON index "
        "ms/start: wall (CPU, main loop) | wall ratio |"
    )
    print("|---|---|---|---|")
    for size in (int(s) for s in a.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            ours, old = Path(tmp) / "ours", Path(tmp) / "old"
            ours.mkdir()
            old.mkdir()
            store = EvidenceIndex(ours / "evidence_index.db")
            baseline = JsonIndex(old / "evidence_index.json")
            fill(store, size)
            fill(baseline, size)
            ours_ms = per_start(store, ours, a.starts, a.rounds)
            old_ms = per_start(baseline, old, a.starts, a.rounds)
            store.close()
        cell = "{:.1f} ({:.1f}, {:.1f})".format
        print(
            f"| {size} | {cell(*ours_ms)} | {cell(*old_ms)} | {old_ms[0] / ours_ms[0]:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()

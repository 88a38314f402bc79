"""Evidence files of alerts (snapshots, hashes), who owns them, and the disk they may use.

Layout: ``<root>/<site>/<camera>/<YYYY-MM-DD>/<alert_id>_snapshot.jpg`` (annotated),
``..._snapshot_clean.jpg`` (the untouched frame) and ``..._clip.mp4``
(``sitewatch.edge.evidence.clips``). Every file is written to a temp name and renamed, so a reader
never sees half a file, and its SHA-256 travels in the alert.

Disk is managed by *hours of recording left* (free bytes / observed bytes per hour of all
rings), not percent full. :func:`plan_deletions` decides, :class:`DiskManager` applies: evidence
of closed alerts past retention always goes; below ``min_free_hours`` the oldest unpinned ring
segments go first, then the oldest evidence of closed alerts (early, with a warning). Evidence
of open alerts and ring segments pinned for a clip are never deleted. Which alert owns which
file, and which are open: ``sitewatch.edge.evidence.index``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.edge.atomic import write_atomic
from sitewatch.edge.evidence.annotate import COLOURS, OTHER_COLOUR, draw_box
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.video.recorder import Segment, SegmentRing

if TYPE_CHECKING:
    from sitewatch.contract.messages import EvidenceFile

log = logging.getLogger(__name__)

Kind = Literal["snapshot", "snapshot_clean", "clip", "still", "still_annotated"]
Reason = Literal["retention", "disk: ring", "disk: evidence"]
Box = tuple[float, float, float, float]
ZONE_COLOUR = (0, 215, 255)  # BGR amber
GB = 10**9


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Lower-hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class EvidenceFileInfo:
    kind: Kind
    name: str
    path: Path
    size_bytes: int
    sha256: str
    content_type: str
    duration_s: float | None = None

    def to_message(self) -> EvidenceFile:
        from sitewatch.contract.messages import EvidenceFile

        return EvidenceFile(
            kind=self.kind,
            name=self.name,
            sha256=self.sha256,
            size_bytes=self.size_bytes,
            content_type=self.content_type,
            duration_s=self.duration_s,
        )


def evidence_folder(root: Path, site: str, camera: str, t: float, tz: ZoneInfo) -> Path:
    """``<root>/<site>/<camera>/<date in the site's time zone>``."""
    return root / site / camera / datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d")


def draw_snapshot(
    frame: npt.NDArray[np.uint8],
    boxes: Sequence[Box],
    labels: Sequence[str],
    scores: Sequence[float],
    zone_points: Sequence[tuple[float, float]],
    zone_name: str = "",
) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` with the zone outline (normalised points) and ``label score`` boxes."""
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(
            f"one label and score per box, got {len(boxes)} boxes, "
            f"{len(labels)} labels, {len(scores)} scores"
        )
    out = frame.copy()
    h, w = frame.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1500)
    if zone_points:
        pts = np.array([[round(x * w), round(y * h)] for x, y in zone_points], np.int32)
        cv2.polylines(out, [pts], True, ZONE_COLOUR, thick, cv2.LINE_AA)
        if zone_name:
            org = (int(pts[:, 0].min()) + 4, int(pts[:, 1].min()) + 16)
            cv2.putText(out, zone_name, org, cv2.FONT_HERSHEY_SIMPLEX, scale, ZONE_COLOUR, 1)
    for box, label, score in zip(boxes, labels, scores, strict=True):
        x1, y1, x2, y2 = (round(v) for v in box)
        draw_box(out, (x1, y1, x2, y2), f"{label} {score:.2f}", COLOURS.get(label, OTHER_COLOUR))
    return out


def write_snapshots(
    frame: npt.NDArray[np.uint8],
    alert_id: str,
    folder: Path,
    boxes: Sequence[Box],
    labels: Sequence[str],
    scores: Sequence[float],
    zone_points: Sequence[tuple[float, float]],
    zone_name: str = "",
    quality: int = 90,
) -> tuple[EvidenceFileInfo, EvidenceFileInfo]:
    """Write ``<alert_id>_snapshot.jpg`` (annotated) and ``..._snapshot_clean.jpg``: both or
    neither (on a full disk the first is removed again, so no file is left that no alert lists).
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"a BGR uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    drawn = draw_snapshot(frame, boxes, labels, scores, zone_points, zone_name)
    out: list[EvidenceFileInfo] = []
    pairs: tuple[tuple[Kind, npt.NDArray[np.uint8]], ...] = (
        ("snapshot", drawn),
        ("snapshot_clean", frame),
    )
    for kind, image in pairs:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {kind} of alert {alert_id}")
        data = buf.tobytes()
        path = folder / f"{alert_id}_{kind}.jpg"
        try:
            write_atomic(path, data)
        except BaseException:
            for done in out:
                done.path.unlink(missing_ok=True)
            raise
        sha = hashlib.sha256(data).hexdigest()
        out.append(EvidenceFileInfo(kind, path.name, path, len(data), sha, "image/jpeg"))
    return out[0], out[1]


@dataclass(frozen=True)
class DiskItem:
    path: Path
    time: float  # segment start, or the alert's close time
    size: int
    kind: Literal["segment", "evidence"]
    protected: bool  # pinned segment or evidence of an open alert
    alert_id: str = ""


@dataclass(frozen=True)
class Deletion:
    item: DiskItem
    reason: Reason


def hours_left(free_bytes: int, bytes_per_hour: float) -> float:
    """Hours of recording the free disk holds; infinite while nothing is being recorded."""
    return free_bytes / bytes_per_hour if bytes_per_hour > 0 else float("inf")


def plan_deletions(
    items: Sequence[DiskItem],
    free_bytes: int,
    bytes_per_hour: float,
    min_free_hours: float,
    now: float,
    retention_s: float,
) -> list[Deletion]:
    """What to delete, in order (see module doc); never a protected item."""
    free = free_bytes
    out = []
    evidence = sorted((i for i in items if i.kind == "evidence" and not i.protected), key=_t)
    for item in evidence:
        if item.time < now - retention_s:
            out.append(Deletion(item, "retention"))
            free += item.size
    segments = sorted((i for i in items if i.kind == "segment" and not i.protected), key=_t)
    gone = {d.item.path for d in out}
    queue: list[tuple[DiskItem, Reason]] = [(s, "disk: ring") for s in segments]
    queue += [(e, "disk: evidence") for e in evidence if e.path not in gone]
    for item, reason in queue:
        if hours_left(free, bytes_per_hour) >= min_free_hours:
            break
        out.append(Deletion(item, reason))
        free += item.size
    return out


def _t(item: DiskItem) -> float:
    return item.time


@dataclass(frozen=True)
class DiskReport:
    free_bytes: int
    bytes_per_hour: float
    hours_left: float  # after the deletions
    deleted: list[Deletion]


class DiskManager:
    """Keeps ``min_free_hours`` of recording free under ``root``; see :func:`plan_deletions`."""

    def __init__(
        self,
        root: Path,
        rings: Sequence[SegmentRing],
        store: EvidenceIndex,
        min_free_hours: float = 1.0,
        retention_days: float = 7.0,
        free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
    ) -> None:
        self.root, self.rings, self.store = root, rings, store
        self.min_free_hours, self.retention_s = min_free_hours, retention_days * 86400.0
        self._free_bytes = free_bytes

    def bytes_per_hour(self) -> float:
        return sum(ring.bytes_per_hour() for ring in self.rings)

    def hours_left(self) -> float:
        return hours_left(self._free_bytes(self.root), self.bytes_per_hour())

    def run(self, now: float | None = None) -> DiskReport:
        now = time.time() if now is None else now
        owner: dict[Path, tuple[SegmentRing, Segment]] = {}
        items: list[DiskItem] = []
        for ring in self.rings:
            for seg in ring.refresh():
                owner[seg.path] = (ring, seg)
                items.append(
                    DiskItem(seg.path, seg.start, seg.size, "segment", ring.is_pinned(seg))
                )
        for alert_id, rec in self.store.alerts().items():
            t = rec.closed_at if rec.closed_at is not None else rec.opened_at
            for name in rec.files:
                p = Path(name)
                size = p.stat().st_size if p.exists() else 0
                items.append(DiskItem(p, t, size, "evidence", rec.open, alert_id))
        free, bph = self._free_bytes(self.root), self.bytes_per_hour()
        plan = plan_deletions(items, free, bph, self.min_free_hours, now, self.retention_s)
        done = []
        for d in plan:  # re-checked here: a pin may have come since the plan
            if d.item.kind == "segment":
                ring, seg = owner[d.item.path]
                try:
                    ring.delete(seg)
                except ValueError:  # pinned meanwhile
                    continue
            else:
                if self.store.is_open(d.item.alert_id):
                    continue
                d.item.path.unlink(missing_ok=True)
                self.store.forget_file(d.item.alert_id, d.item.path)
            done.append(d)
        plan = done
        freed = sum(d.item.size for d in plan)
        left = hours_left(free + freed, bph)
        pressured = [d for d in plan if d.reason != "retention"]
        if pressured:
            log.warning(
                "disk under %s: %.2f h of recording left (< %.2f h): deleted %d ring segments and "
                "%d evidence files of closed alerts (%.1f MB); evidence of open alerts is kept",
                self.root, hours_left(free, bph), self.min_free_hours,
                sum(d.reason == "disk: ring" for d in plan),
                sum(d.reason == "disk: evidence" for d in plan), freed / 1e6,
            )  # fmt: skip
        if left < self.min_free_hours:
            log.warning(
                "disk under %s: still only %.2f h of recording left; what remains is pinned or "
                "belongs to open alerts: free space or add disk",
                self.root, left,
            )  # fmt: skip
        return DiskReport(free + freed, bph, left, plan)

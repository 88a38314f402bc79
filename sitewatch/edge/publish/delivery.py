"""Alerts with their evidence into the outbox: files first, then the message that lists them.

A start goes out first, alone; its snapshots (annotated and clean JPEG of the best frame) are
made on a snapshot thread and its clip (stream copy of the pinned segment ring, plus a
full-resolution still, untouched, and a copy of it with the alert's box drawn) on a clip thread
at nice :data:`EVIDENCE_NICE`; each sends an update listing its files once they are queued. An
update lists every evidence file known so far. The end is held back until the snapshots and the
clip are done (a clip that cannot be cut is logged, and the end goes without it). ``seq`` is
counted here per alert (start 0).

A full disk never stops detection: nothing in :meth:`AlertDelivery.handle` or the evidence
threads raises for it; evidence that cannot be written is dropped and counted by reason in
:attr:`AlertDelivery.evidence_dropped`; index changes the disk refuses wait in memory (at most
:data:`INDEX_BACKLOG`). Files go to the outbox by reference (path, size, SHA-256). Why this
order and the low priority: docs/design/delivery.md.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from sitewatch.edge.analysis.alerts import AlertTransition
from sitewatch.edge.atomic import write_atomic
from sitewatch.edge.config.schema import Zone
from sitewatch.edge.detections import AnalysedFrame
from sitewatch.edge.evidence.annotate import COLOURS, OTHER_COLOUR, draw_box_norm
from sitewatch.edge.evidence.clips import ClipError, cut_clip, extract_still, wait_covered
from sitewatch.edge.evidence.files import (
    EvidenceFileInfo,
    evidence_folder,
    sha256_file,
    write_snapshots,
)
from sitewatch.edge.evidence.index import EvidenceIndex
from sitewatch.edge.publish.outbox import Outbox
from sitewatch.edge.video.recorder import SegmentRing

log = logging.getLogger(__name__)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass
class _Alert:
    last: AlertTransition
    seq: int = 0
    files: list[EvidenceFileInfo] = field(default_factory=list)
    clip_pending: bool = False
    snap_pending: bool = False
    end_held: bool = False

    @property
    def pending(self) -> bool:
        return self.clip_pending or self.snap_pending


@dataclass(frozen=True)
class _SnapJob:
    start: AlertTransition  # the box, label and score drawn on the image
    image: npt.NDArray[np.uint8]
    zone: Zone | None


@dataclass(frozen=True)
class _ClipJob:
    alert_id: str
    camera: str
    t0: float
    t1: float
    best_ts: float  # the moment the still shows
    box_norm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # drawn on a copy
    tag: str = ""  # the box's tag: rule, label and score
    label: str = ""


EVIDENCE_NICE = 19
"""Niceness of the clip thread and its ffmpeg children (Linux: per thread, inherited)."""


INDEX_BACKLOG = 10_000
"""Changes to the evidence index kept in memory while the disk refuses them (~100 bytes each)."""

DISK_ERRORS = (OSError, sqlite3.Error)
"""What a full or failing disk raises on the alert path (ClipError covers ffmpeg's)."""


def why_failed(exc: BaseException) -> str:
    """A short counter key for a failure to write evidence: ``disk full`` or ``failed``."""
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    full = full or "disk is full" in str(exc) or "No space left" in str(exc)
    return "disk full" if full else "failed"


def lower_priority(nice: int | None = None) -> bool:
    """Give the calling thread (and the processes it starts from now on) CPU only when others
    leave it: Linux keeps a nice value per thread. False where that is not possible."""
    nice = EVIDENCE_NICE if nice is None else nice
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError) as exc:
        log.info("clips keep normal CPU priority: %s", exc)
        return False
    return True


class AlertDelivery:
    def __init__(
        self,
        *,
        site_id: str,
        prefix: str,
        outbox: Outbox,
        store: EvidenceIndex,
        evidence_dir: Path,
        tz: str,
        pre_roll_s: float,
        post_roll_s: float,
        rings: dict[str, SegmentRing],
        config_version: Callable[[], str],
        clock: Callable[[], float] = time.time,
        signer: Signer | None = None,
    ) -> None:
        self.site_id, self.prefix, self.outbox, self.store = site_id, prefix, outbox, store
        self.signer = signer or Signer(None)  # None: alerts go unsigned (tests of delivery)
        self.evidence_dir, self.tz = evidence_dir, ZoneInfo(tz)
        self.pre_roll_s, self.post_roll_s, self.rings = pre_roll_s, post_roll_s, rings
        self.config_version, self.clock = config_version, clock
        self._alerts: dict[str, _Alert] = {}
        self._lock = threading.Lock()
        self._jobs: queue.Queue[_ClipJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._clip_loop, name="clips", daemon=True)
        self._snaps: queue.Queue[_SnapJob | None] = queue.Queue()
        self._snap_thread = threading.Thread(
            target=self._snapshot_loop, name="snapshots", daemon=True
        )
        self.clips_failed = 0
        self.evidence_dropped: Counter[str] = Counter()
        """Evidence not made or not indexed, by reason (e.g. ``snapshot: disk full``)."""
        self._index_backlog: deque[tuple[str, Callable[[], None]]] = deque()

    def start(self) -> AlertDelivery:
        self._snap_thread.start()
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish queued clips (up to ``timeout_s``), then stop.

        An end still held for a clip that did not come in time (the camera went down before
        the post-roll was recorded) is queued now without it: the caller flushes the outbox
        next, and an end left in memory would be lost, leaving the alert open for ever.
        """
        self._snaps.put(None)
        self._jobs.put(None)
        began = time.monotonic()
        self._snap_thread.join(timeout_s)
        self._thread.join(max(timeout_s - (time.monotonic() - began), 0.1))
        with self._lock:
            held = [a for a in self._alerts.values() if a.end_held]
            if held:
                log.warning(
                    "%d alert(s) end without the evidence not ready at exit: %s%s",
                    len(held), ", ".join(a.last.id for a in held[:5]),
                    " ..." if len(held) > 5 else "",
                )  # fmt: skip
            for alert in held:
                alert.clip_pending = alert.snap_pending = alert.end_held = False
                try:
                    self._send(alert)
                except DISK_ERRORS as exc:
                    log.error("alert %s: its end was not queued: %s", alert.last.id, exc)

    def handle(self, t: AlertTransition, frame: AnalysedFrame | None, zone: Zone | None) -> None:
        """Queue what ``t`` changes; never raises for a full or failing disk (module doc)."""
        with self._lock:
            try:
                if t.event == "start":
                    self._start(t, frame, zone)
                elif t.id in self._alerts:
                    alert = self._alerts[t.id]
                    alert.last = t
                    if t.event == "end" and alert.pending:
                        alert.end_held = True
                    else:
                        self._send(alert)
            except DISK_ERRORS as exc:  # the outbox keeps messages in memory: not expected
                log.error("alert %s: its %s was not queued: %s", t.id, t.event, exc)

    def _index(self, what: str, change: Callable[[], None]) -> None:
        """Apply ``change`` to the evidence index after any held back; on a disk error it waits
        in memory, in order (module doc)."""
        if len(self._index_backlog) >= INDEX_BACKLOG:
            lost, _ = self._index_backlog.popleft()
            self.evidence_dropped["index: backlog full"] += 1
            log.warning("evidence index: gave up %s: %d changes wait for disk", lost, INDEX_BACKLOG)
        self._index_backlog.append((what, change))
        while self._index_backlog:
            what, change = self._index_backlog[0]
            try:
                change()
            except DISK_ERRORS as exc:
                if len(self._index_backlog) == 1:
                    log.warning(
                        "evidence index: cannot %s (%s); it waits in memory until the disk has "
                        "room (its files are not deleted by retention until then)",
                        what, exc,
                    )  # fmt: skip
                return
            self._index_backlog.popleft()

    def _start(self, t: AlertTransition, frame: AnalysedFrame | None, zone: Zone | None) -> None:
        alert = self._alerts[t.id] = _Alert(last=t)
        self._index(f"open alert {t.id}", partial(self.store.open_alert, t.id, t.started_at))
        if frame is not None:
            alert.snap_pending = True
            self._snaps.put(_SnapJob(t, frame.image, zone))
        ring = self.rings.get(t.camera)
        if ring is not None:
            t0, t1 = t.started_at - self.pre_roll_s, t.started_at + self.post_roll_s
            ring.pin(t.id, t0 - 5.0, t1 + 5.0)
            alert.clip_pending = True
            tag = f"{t.rule}: {t.label} {t.score:.2f}"
            self._jobs.put(_ClipJob(t.id, t.camera, t0, t1, t.best_ts, t.box_norm, tag, t.label))
        self._send(alert)

    def _folder(self, camera: str, t: float) -> Path:
        folder = evidence_folder(self.evidence_dir, self.site_id, camera, t, self.tz)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _attach(self, alert: _Alert, files: list[EvidenceFileInfo]) -> None:
        """Queue the files (by reference) before any message lists them."""
        alert_id = alert.last.id
        self._index(
            f"add files to alert {alert_id}", partial(self.store.add_files, alert_id, files)
        )
        for f in files:
            topic = m.evidence(self.prefix, self.site_id, alert_id, f.name)
            self.outbox.put_file(topic, f.path, f.size_bytes, f.sha256)
        alert.files.extend(files)

    def _send(self, alert: _Alert) -> None:
        t = alert.last
        event = "start" if alert.seq == 0 else ("end" if t.event == "end" else "update")
        msg = m.AlertEvent(
            id=t.id,
            seq=alert.seq,
            event=event,
            site_id=self.site_id,
            camera_id=t.camera,
            rule=t.rule,
            track_id=max(t.track_id, 0),
            zone_id=t.zone_id,
            label=t.label,
            score=min(max(t.score, 0.0), 1.0),
            box=_unit_box(t.box_norm),
            started_at=utc(t.started_at),
            last_seen_at=utc(max(t.last_seen_at, t.started_at)),
            ended_at=utc(max(t.ended_at, t.started_at)) if event == "end" and t.ended_at else None,
            sent_at=utc(self.clock()),
            evidence=[f.to_message() for f in alert.files],
            config_version=self.config_version(),
        )
        self.outbox.put(m.alerts(self.prefix, self.site_id), self.signer.encode(msg))
        alert.seq += 1
        if event == "end":
            del self._alerts[t.id]
            closed = t.ended_at or self.clock()
            self._index(f"close alert {t.id}", partial(self.store.close_alert, t.id, closed))

    def _snapshot_loop(self) -> None:
        while (job := self._snaps.get()) is not None:
            t, zone = job.start, job.zone
            files: list[EvidenceFileInfo] = []
            try:
                files += write_snapshots(
                    job.image,
                    t.id,
                    self._folder(t.camera, t.started_at),
                    [t.box],
                    [t.label],
                    [t.score],
                    zone.points if zone else [],
                    zone.name or zone.id if zone else "",
                )
            except (OSError, RuntimeError, ValueError) as exc:
                self.evidence_dropped[f"snapshot: {why_failed(exc)}"] += 1
                log.warning("alert %s: no snapshot from camera %s: %s", t.id, t.camera, exc)
            except Exception:  # never leave the alert's end held for ever
                self.evidence_dropped["snapshot: failed"] += 1
                log.exception("alert %s: no snapshot from camera %s", t.id, t.camera)
            self._done(t.id, files, clip=False)

    def _done(self, alert_id: str, files: list[EvidenceFileInfo], *, clip: bool) -> None:
        """An evidence thread's job (the clip's, else the snapshots') ended: clear its flag, queue
        ``files`` and the message; a failure here must not kill the thread (the alert's end
        would be held for ever)."""
        with self._lock:
            alert = self._alerts.get(alert_id)
            if alert is None:
                return
            if clip:
                alert.clip_pending = False
            else:
                alert.snap_pending = False
            try:
                self._evidence_done(alert, files)
            except Exception:
                log.exception("alert %s: its evidence was not queued", alert_id)

    def _evidence_done(self, alert: _Alert, files: list[EvidenceFileInfo]) -> None:
        """Queue ``files`` and the message listing them; a held end goes once nothing is
        pending (until then an update would be sent as the end: it waits, files and all)."""
        if files:
            self._attach(alert, files)
        if alert.end_held:
            if not alert.pending:
                self._send(alert)
        elif files:
            self._send(alert)

    def _clip_loop(self) -> None:
        lower_priority()
        while (job := self._jobs.get()) is not None:
            files: list[EvidenceFileInfo] = []
            ring = self.rings[job.camera]
            try:
                if not wait_covered(ring, job.t1, timeout_s=self.post_roll_s + 60.0):
                    raise ClipError(f"the recording did not reach {utc(job.t1).isoformat()}")
                folder = self._folder(job.camera, job.t0)
                path = folder / f"{job.alert_id}_clip.mp4"
                clip = cut_clip(ring, job.t0, job.t1, path, shorter_ok=True)
                files.append(clip.file_info())
                still = folder / f"{job.alert_id}_still.jpg"
                files.append(extract_still(clip, job.best_ts, still))
                files.append(annotate_still(files[-1], job))
            except (ClipError, OSError) as exc:
                self.clips_failed += int(not files)
                what = ("clip", "still", "annotated still")[min(len(files), 2)]
                self.evidence_dropped[f"{what}: {why_failed(exc)}"] += 1
                log.warning(
                    "alert %s: no %s from camera %s: %s", job.alert_id, what, job.camera, exc
                )
            finally:
                ring.unpin(job.alert_id)
            self._done(job.alert_id, files, clip=True)


def annotate_still(still: EvidenceFileInfo, job: _ClipJob) -> EvidenceFileInfo:
    """``<alert_id>_still_annotated.jpg`` beside ``still``: the same picture with the alert's
    normalised box scaled to its resolution and drawn with its tag; the still stays untouched
    (police want the frame as the camera recorded it). ``OSError`` if it cannot be made."""
    image: npt.NDArray[np.uint8] | None = cv2.imread(str(still.path), cv2.IMREAD_COLOR)  # type: ignore[assignment]
    if image is None:
        raise OSError(f"cannot read the still {still.path} back to draw the box on it")
    drawn = draw_box_norm(image, job.box_norm, job.tag, COLOURS.get(job.label, OTHER_COLOUR))
    ok, buf = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise OSError(f"JPEG encoding failed for the annotated still of alert {job.alert_id}")
    path = still.path.with_name(f"{job.alert_id}_still_annotated.jpg")
    write_atomic(path, buf.tobytes())
    return EvidenceFileInfo(
        "still_annotated", path.name, path, path.stat().st_size, sha256_file(path), "image/jpeg"
    )


def _unit_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in box)
    return (x1, y1, max(x1, x2), max(y1, y2))

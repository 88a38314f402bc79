"""The edge's periodic chores: camera status, stats, ring pruning, disk, recording indexes.

Camera status (retained, the latest wins) goes straight to the broker, not through the outbox:
at once when a camera's state or error changes or its frame rate moves (:func:`status_changed`),
else every ``STATUS_EVERY_S`` (the edge's stats say every minute that it lives), and ``offline``
for every camera when the worker stops. ``frames_dropped`` counts frames dropped as stale, not
those beyond the detect fps. Stats cover the interval since the previous report (:func:`since`).

Rings are pruned by age every ``PRUNE_EVERY_S`` and to ``max_ring_bytes`` across all of them
(:func:`prune_rings`); the disk manager deletes earlier when the free disk holds too few hours.
Each camera's :class:`RecordingIndex` per stream (retained) is built every ``INDEX_CHECK_S``,
after a disk run that deleted segments, and for one camera when its status changed or its
recording stopped or started (newest segment looked at every ``GROWING_CHECK_S``); it goes out
only when it is news (:func:`~sitewatch.edge.video.recording.index_news`) and at least every
``INDEX_REFRESH_S``. Why these periods: bench/RESULTS.md, "Console load (issue 16)".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from sitewatch.contract import messages as m
from sitewatch.contract.signing import Signer
from sitewatch.edge.detect.batcher import BatchStats
from sitewatch.edge.evidence.files import DiskManager
from sitewatch.edge.publish.delivery import utc
from sitewatch.edge.publish.outbox import Outbox
from sitewatch.edge.publish.transport import Delivery, Transport
from sitewatch.edge.video.capture import CameraReader, CameraStats
from sitewatch.edge.video.recording import CameraRecording, index_news, prune_rings
from sitewatch.edge.video.ring import SegmentRing

log = logging.getLogger(__name__)

STATUS_EVERY_S = 300.0  # a retained status's refresh; news goes at once, stats every 60 s
FPS_MOVED = 0.25  # a frame rate this much (and 1 fps) away from the one published is news
STATS_EVERY_S = 60.0
PRUNE_EVERY_S = 10.0
DISK_EVERY_S = 60.0
INDEX_CHECK_S = 60.0  # how often every index is built and compared with the published one
GROWING_CHECK_S = 10.0  # how often each recording's newest segment is looked at


def status_changed(last: CameraStats | None, now: CameraStats) -> bool:
    """Whether a camera's status is news against the one last published: its state or error
    changed, or a frame rate (frames/s) moved by more than :data:`FPS_MOVED` of it and 1."""
    if last is None or _shown(last) != _shown(now):
        return True
    return any(
        abs(b - a) > max(1.0, FPS_MOVED * a)
        for a, b in ((last.fps_in, now.fps_in), (last.fps_taken, now.fps_taken))
    )


def _shown(s: CameraStats) -> tuple[str, str | None]:
    """The state and the error a status carries (an online camera's error is not sent)."""
    return s.state, s.last_error if s.state != "online" else None


class Housekeeper:
    """The periodic chores of one edge over what it is given; keeps the state between reports.

    ``readers`` maps camera id to its reader (the cameras reported, in this order);
    ``evidence_dropped`` is the delivery's live counter, read, never written. When cameras
    come and go the worker assigns new ``readers`` and ``rings``, never changes them in place,
    so the chores' thread iterates what it read; the same for ``recordings`` (camera id to its
    recording, whose index is published). ``max_ring_bytes``: the budget of all ``rings``
    together (None: each ring's own ``max_bytes`` only). ``warnings`` maps camera id to its
    standing warnings (sent in its status; the worker assigns a new mapping to change them).
    """

    def __init__(
        self,
        *,
        site_id: str,
        topic_prefix: str,
        readers: Mapping[str, CameraReader],
        rings: Sequence[SegmentRing],
        disk: DiskManager,
        batch_stats: BatchStats,
        transport: Transport,
        signer: Signer,
        outbox: Outbox,
        evidence_dropped: Mapping[str, int],
        recordings: Mapping[str, CameraRecording] | None = None,
        max_ring_bytes: int | None = None,
    ) -> None:
        self.site_id, self.topic_prefix = site_id, topic_prefix
        self.readers, self.rings, self.disk = readers, rings, disk
        self.batch_stats, self.transport, self.signer = batch_stats, transport, signer
        self.outbox, self.evidence_dropped = outbox, evidence_dropped
        self.recordings: Mapping[str, CameraRecording] = recordings or {}
        self.max_ring_bytes = max_ring_bytes
        self._published: dict[str, CameraStats] = {}
        self.warnings: Mapping[str, tuple[m.EdgeWarning, ...]] = {}
        self._warned: dict[str, tuple[m.EdgeWarning, ...]] = {}  # the warnings last published
        # (camera, stream): the index last published and its delivery
        self._indexes: dict[tuple[str, str], tuple[m.RecordingIndex, Delivery]] = {}
        self._last_counts: dict[str, tuple[int, int]] = {}
        self._last_batch = (0, 0, 0)
        self._last_drops: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.hours_left: float | None = None

    def run(self, stop: threading.Event) -> None:
        due = {"status": 0.0, "stats": time.time() + STATS_EVERY_S, "prune": 0.0, "disk": 0.0}
        due["index"], due["growing"] = 0.0, 0.0
        while not stop.wait(0.5):
            now = time.time()
            try:
                news = self.publish_status(force=now >= due["status"])
                if now >= due["status"]:
                    due["status"] = now + STATUS_EVERY_S
                if now >= due["prune"]:
                    self.prune(now)  # by age: not news; by budget: the next build says
                    due["prune"] = now + PRUNE_EVERY_S
                if now >= due["disk"]:
                    report = self.disk.run()
                    self.hours_left = report.hours_left
                    if any(d.reason == "disk: ring" for d in report.deleted):
                        due["index"] = now
                    due["disk"] = now + DISK_EVERY_S
                if now >= due["index"]:
                    self.publish_index(now)
                    due["index"] = due["growing"] = now + INDEX_CHECK_S
                if now >= due["growing"]:
                    news |= self.recording_turned(now)
                    due["growing"] = now + GROWING_CHECK_S
                if news:
                    self.publish_index(now, only=news)
                if now >= due["stats"]:
                    self.publish_stats(STATS_EVERY_S)
                    due["stats"] = now + STATS_EVERY_S
            except OSError as exc:  # a full or failing disk must not stop the chores
                log.warning("housekeeping: %s", exc)

    def prune(self, now: float) -> int:
        """Prune every ring by age, and all together to ``max_ring_bytes``; segments deleted."""
        if self.max_ring_bytes is not None:
            return prune_rings(self.rings, self.max_ring_bytes, now)
        return sum(len(ring.prune(now)) for ring in self.rings)

    def recording_turned(self, now: float) -> set[str]:
        """The cameras with a stream whose recording stopped or started since the index last
        published for it said (none before the first)."""
        turned = set()
        for cam_id, recording in self.recordings.items():
            for stream, growing in recording.growing(now).items():
                last = self._indexes.get((cam_id, stream))
                if last is not None and last[0].recording != growing:
                    turned.add(cam_id)
        return turned

    def publish_index(self, now: float, only: Collection[str] | None = None) -> list[Delivery]:
        """Each camera's (of ``only``, if given) retained :class:`RecordingIndex` per recorded
        stream that is news against the one last published for it (all of them the first
        time; again when the client abandoned the last one)."""
        out = []
        recordings = self.recordings
        self._indexes = {k: v for k, v in self._indexes.items() if k[0] in recordings}
        for cam_id, recording in recordings.items():
            if only is not None and cam_id not in only:
                continue
            # a prune's period and two segments: starts this close to the retention aged out
            slack_s = PRUNE_EVERY_S + 2.0 * recording.segment_s
            for msg in recording.index(self.site_id, cam_id, now):
                key = (cam_id, msg.stream)
                last, sent = self._indexes.get(key, (None, None))
                why = index_news(None if sent is None or sent.abandoned else last, msg, slack_s)
                if why is None:
                    continue
                log.debug("camera %s %s: recording index (%s)", cam_id, msg.stream, why)
                topic = m.recording_index(self.topic_prefix, self.site_id, cam_id, msg.stream)
                delivery = self.transport.publish(topic, self.signer.encode(msg), retain=True)
                self._indexes[key] = (msg, delivery)
                out.append(delivery)
        return out

    def publish_status(self, force: bool) -> set[str]:
        """Each camera's status that changed (every one when ``force``); returns the cameras
        whose status changed (their recording may have stopped or started)."""
        changed = set()
        warnings = self.warnings
        for cam_id, reader in self.readers.items():
            s = reader.stats()
            news = status_changed(self._published.get(cam_id), s)
            warned = warnings.get(cam_id, ()) != self._warned.get(cam_id, ())
            if not force and not news and not warned:
                continue
            if news:
                changed.add(cam_id)
            self._published[cam_id] = s
            self._warned[cam_id] = shown = warnings.get(cam_id, ())
            self._publish(cam_id, s, shown)
        return changed

    def publish_offline(self, wait_s: float = 2.0) -> None:
        """Every camera's retained status as offline (the worker stops); waits for the acks."""
        deliveries = [
            self._publish(
                cam_id, replace(reader.stats(), state="offline"), self.warnings.get(cam_id, ())
            )
            for cam_id, reader in self.readers.items()
        ]
        deadline = time.monotonic() + wait_s
        for d in deliveries:
            d.wait(max(0.0, deadline - time.monotonic()))

    def publish_gone(self, cam_id: str, reader: CameraReader, reason: str) -> Delivery:
        """The retained status of a camera the edge no longer runs: offline, and why."""
        self._published.pop(cam_id, None)
        self._warned.pop(cam_id, None)
        return self._publish(cam_id, replace(reader.stats(), state="offline", last_error=reason))

    def _publish(
        self, cam_id: str, s: CameraStats, warnings: Sequence[m.EdgeWarning] = ()
    ) -> Delivery:
        msg = m.CameraStatus(
            site_id=self.site_id,
            camera_id=cam_id,
            state=s.state,
            fps_in=s.fps_in if s.state != "offline" else 0.0,
            fps_analysed=s.fps_taken if s.state != "offline" else 0.0,
            frames_dropped=self.batch_stats.dropped_by_camera.get(cam_id, 0),
            reconnects=s.reconnects,
            last_frame_at=utc(s.last_frame_at) if s.last_frame_at else None,
            error=_shown(s)[1],
            warnings=list(warnings),
            at=utc(time.time()),
        )
        topic = m.camera_status(self.topic_prefix, self.site_id, cam_id)
        return self.transport.publish(topic, self.signer.encode(msg), retain=True)

    def publish_stats(self, interval_s: float) -> None:
        b = self.batch_stats
        cameras = []
        for cam_id, reader in self.readers.items():
            s = reader.stats()
            dropped = b.dropped_by_camera.get(cam_id, 0)
            dropped0, reconnects0 = self._last_counts.get(cam_id, (0, 0))
            self._last_counts[cam_id] = (dropped, s.reconnects)
            cameras.append(
                m.CameraStats(
                    camera_id=cam_id,
                    state=s.state,
                    fps_in=s.fps_in,
                    fps_analysed=s.fps_taken,
                    frames_dropped=max(0, dropped - dropped0),
                    reconnects=max(0, s.reconnects - reconnects0),
                )
            )
        batches0, frames0, stale0 = self._last_batch
        self._last_batch = (b.batches, b.frames, b.dropped_stale)
        batches = b.batches - batches0
        # copies: other threads count on; dict() of a Counter is one step under the GIL
        evidence, outbox = dict(self.evidence_dropped), dict(self.outbox.dropped)
        msg = m.EdgeStats(
            site_id=self.site_id,
            at=utc(time.time()),
            interval_s=interval_s,
            cameras=cameras,
            batches=batches,
            batch_size_mean=(b.frames - frames0) / batches if batches else 0.0,
            inference_ms_p50=b.percentile(50),
            inference_ms_p95=b.percentile(95),
            frames_dropped_stale=b.dropped_stale - stale0,
            outbox_depth=self.outbox.depth(),
            disk_hours_left=self.hours_left,
            evidence_dropped=since(evidence, self._last_drops[0]),
            outbox_dropped=since(outbox, self._last_drops[1]),
        )
        self._last_drops = (evidence, outbox)
        topic = m.stats(self.topic_prefix, self.site_id)
        self.transport.publish(topic, self.signer.encode(msg), qos=0)


def since(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """Counts by reason added between two readings of a counter that only grows: the reasons
    whose count rose, with how much (an empty dict when nothing was dropped)."""
    return {k: n - before.get(k, 0) for k, n in sorted(now.items()) if n > before.get(k, 0)}

"""One camera's continuous recording: a recorder and a segment ring per stream, and its index.

Every camera records its ``detect`` stream; one with a separate main stream records that as
``record`` too. ``clip_ring`` is the ring alert clips are cut from: ``record`` when there is
one, else ``detect``. Folders: ``<root>/<stream>/`` (``root`` is ``<evidence.dir>/ring/<camera>``);
segments an older edge left in ``root`` itself belong to the clip stream and are moved there.

:meth:`CameraRecording.index` says what each stream holds as :class:`RecordingIndex` messages
(spans merged across holes shorter than two segments; ``recording`` while the newest segment
ended within :data:`GROWING_SEGMENTS` segments and :data:`GROWING_LAG_S`), and
:func:`index_news` whether one is worth publishing. Retention per stream is the ring's
``keep_s``; the disk budget across cameras is :func:`prune_rings`'s. Legal holds apply to every
stream of the camera. Design: docs/design/live-video.md, "Recording retention".
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.contract import messages as m
from sitewatch.edge.video.packet_recorder import PacketRecorder
from sitewatch.edge.video.recorder import SegmentRecorder
from sitewatch.edge.video.ring import Segment, SegmentRing

log = logging.getLogger(__name__)

STREAMS: tuple[m.VideoStream, ...] = ("detect", "record")
MAX_SPANS = 5000  # RecordingIndex.spans' bound
GROWING_SEGMENTS = 2.0  # the last span grows while its end is this many segments old at most
GROWING_LAG_S = 5.0  # ... plus this (a segment is listed once its file is closed)
INDEX_REFRESH_S = m.RECORDING_INDEX_REFRESH_S
"""An index goes out at least this often (s), news or not (a console that missed one)."""
SIZE_MOVED = 0.10
"""A size (or recording deleted for the disk budget, as a share of the time recorded) this
much away from the published one is news."""


class CameraRecording:
    """The recorders and rings of one camera's streams; not started until :meth:`start`.

    ``keep_s`` maps each stream to its retention in seconds (a stream kept 0 s is not
    recorded, unless it feeds the clips); ``rings`` are reused when given (a camera restarted
    for new stream URLs keeps its segments, holds and pins). With ``detect_from_reader`` the
    ``detect`` stream of a camera with a main stream is recorded from the packets the camera's
    reader receives (:attr:`packet_sink`, given to ``CameraReader(packets=...)``), not by an
    ffmpeg of its own.
    """

    def __init__(
        self,
        camera_id: str,
        detect_url: str,
        record_url: str | None,
        root: Path,
        *,
        segment_s: float,
        keep_s: Mapping[m.VideoStream, float],
        max_bytes: int = 2 * 10**9,
        ffmpeg: str = "ffmpeg",
        rings: Mapping[m.VideoStream, SegmentRing] | None = None,
        detect_from_reader: bool = False,
    ) -> None:
        self.camera_id, self.root, self.segment_s = camera_id, root, segment_s
        urls: dict[m.VideoStream, str] = {"detect": detect_url}
        if record_url is not None and record_url != detect_url:
            urls["record"] = record_url
        self.clip_stream: m.VideoStream = "record" if "record" in urls else "detect"
        if self.clip_stream == "detect" or keep_s.get("detect", 0.0) <= 0.0:
            urls = {s: u for s, u in urls.items() if s == self.clip_stream}
        self.keep_s = {s: keep_s.get(s, 0.0) for s in urls}
        if self.keep_s[self.clip_stream] <= 0.0:
            raise ValueError(
                f"camera {camera_id}: its {self.clip_stream} stream feeds alert clips and needs "
                f"a retention above 0 s, got {keep_s}; use EvidenceConfig.keep_s"
            )
        self.rings: dict[m.VideoStream, SegmentRing] = {}
        self.recorders: dict[m.VideoStream, SegmentRecorder | PacketRecorder] = {}
        self.packet_sink: PacketRecorder | None = None
        _adopt_legacy(root, root / self.clip_stream)
        for stream, url in urls.items():
            folder = root / stream
            ring = (rings or {}).get(stream)
            if ring is None or ring.directory != folder:
                ring = SegmentRing(folder, keep_s=self.keep_s[stream], max_bytes=max_bytes)
            ring.keep_s = self.keep_s[stream]
            self.rings[stream] = ring
            # only beside a main stream: a detect-only camera cuts its clips from this ring,
            # and its exit clip is not yet finished from the reader's packets (the ffmpeg
            # recorder lists its last segment on SIGTERM); it had one recorder anyway
            if stream == "detect" and detect_from_reader and self.clip_stream == "record":
                self.packet_sink = PacketRecorder(folder, segment_s, keep_s=self.keep_s[stream])
                self.recorders[stream] = self.packet_sink
                continue
            self.recorders[stream] = SegmentRecorder(
                url, folder, segment_s, keep_s=self.keep_s[stream], ffmpeg=ffmpeg
            )

    @property
    def clip_ring(self) -> SegmentRing:
        """The ring alert clips are cut from (the main stream when there is one)."""
        return self.rings[self.clip_stream]

    def ring(self, stream: m.VideoStream) -> SegmentRing:
        """The ring of ``stream``; ``record`` is the ``detect`` ring on a camera without a
        main stream (the contract's meaning); ``KeyError`` for a stream not recorded."""
        if stream in self.rings:
            return self.rings[stream]
        if stream == "record" and self.clip_stream == "detect":
            return self.rings["detect"]
        raise KeyError(
            f"camera {self.camera_id} does not record its {stream} stream "
            f"(recorded: {', '.join(self.rings)}); set evidence.keep_hours.{stream} above 0"
        )

    def start(self) -> None:
        for recorder in self.recorders.values():
            recorder.start()

    def stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.stop()

    def hold(self, hold_id: str, start: float, end: float, reason: str) -> None:
        """A legal hold on [start, end] (wall clock) of every stream of this camera."""
        for ring in self.rings.values():
            ring.holds.hold(hold_id, start, end, reason)

    def release(self, hold_id: str) -> None:
        for ring in self.rings.values():
            ring.holds.release(hold_id)

    def index(self, site_id: str, camera_id: str, now: float) -> list[m.RecordingIndex]:
        """One :class:`RecordingIndex` per recorded stream (``detect`` last: both share one
        retained topic, and the timeline's stream is the one a new subscriber gets)."""
        out = []
        for stream in sorted(self.rings, key=lambda s: s == "detect"):
            ring = self.rings[stream]
            segs = ring.refresh()
            pairs = spans(segs, 2.0 * self.segment_s)
            if len(pairs) > MAX_SPANS:
                log.warning(
                    "camera %s %s: %d recorded spans, the index lists the newest %d",
                    camera_id, stream, len(pairs), MAX_SPANS,
                )  # fmt: skip
                pairs = pairs[-MAX_SPANS:]
            out.append(
                m.RecordingIndex(
                    site_id=site_id,
                    camera_id=camera_id,
                    stream=stream,
                    spans=[m.RecordedSpan(start=_utc(a), end=_utc(b)) for a, b in pairs],
                    size_bytes=sum(s.size for s in segs),
                    keep_s=ring.keep_s,
                    at=_utc(now),
                    recording=self._growing(segs, now),
                )
            )
        return out

    def growing(self, now: float) -> dict[m.VideoStream, bool]:
        """Whether each recorded stream's last span is still growing, as :meth:`index` says
        it; cheap (the newest segment only), to notice recording stop or start between
        indexes."""
        return {stream: self._growing(ring.refresh(), now) for stream, ring in self.rings.items()}

    def _growing(self, segs: Sequence[Segment], now: float) -> bool:
        """The newest of ``segs`` (oldest first) ended within :data:`GROWING_SEGMENTS`
        segments and :data:`GROWING_LAG_S` of ``now``."""
        return (
            bool(segs) and now - segs[-1].end <= GROWING_SEGMENTS * self.segment_s + GROWING_LAG_S
        )


def index_news(last: m.RecordingIndex | None, new: m.RecordingIndex, slack_s: float) -> str | None:
    """Why ``new`` is worth publishing after ``last`` (the one published for its stream), or
    None when it differs only in what the console works out itself until the next refresh.

    News: the first index; one :data:`INDEX_REFRESH_S` after ``last``; recording started or
    stopped; ``keep_s`` changed; ``size_bytes`` moved by more than :data:`SIZE_MOVED`; a span
    added, closed, split or otherwise changed but at its start. Not news: the last span's
    end growing while both say ``recording``; segments deleted from the front of spans (the
    prune deletes the oldest not held) before ``new.at - keep_s + slack_s`` (aged out;
    ``slack_s``, seconds: a prune's period and two segments), or after it (the disk budget) by
    at most :data:`SIZE_MOVED` of the time ``new`` holds (the console shows that much too
    early a start until the refresh). Spans are matched by their end, which a prune keeps."""
    if last is None:
        return "first"
    if new.at.timestamp() - last.at.timestamp() >= INDEX_REFRESH_S:
        return "refresh"
    if new.recording != last.recording:
        return "recording started" if new.recording else "recording stopped"
    if new.keep_s != last.keep_s:
        return "keep_s"
    if abs(new.size_bytes - last.size_bytes) > SIZE_MOVED * last.size_bytes:
        return "size"
    old, cur = _pairs(last), _pairs(new)
    if new.recording and old and cur and cur[-1][0] < old[-1][1] <= cur[-1][1]:
        old[-1] = (old[-1][0], cur[-1][1])  # the same span, grown
    starts = {end: start for start, end in old}
    if any(end not in starts or start < starts[end] for start, end in cur):
        return "spans"  # a span added, closed, split or grown where it may not
    # what remains is segments deleted from the front of spans: by age, or for the budget
    now, kept = new.at.timestamp(), {end: start for start, end in cur}
    aged = now - new.keep_s + slack_s
    cut = [(start, kept.get(end, end)) for start, end in old]
    young = sum(max(0.0, b - max(a, aged)) for a, b in cut)
    recorded = sum(end - start for start, end in cur)
    return "trimmed" if young > SIZE_MOVED * recorded else None


def _pairs(index: m.RecordingIndex) -> list[tuple[float, float]]:
    return [(s.start.timestamp(), s.end.timestamp()) for s in index.spans]


def spans(segments: Sequence[Segment], bridge_s: float) -> list[tuple[float, float]]:
    """Wall-clock stretches covered by ``segments``, merged across holes under ``bridge_s``."""
    out: list[list[float]] = []
    for seg in sorted(segments, key=lambda s: s.start):
        if out and seg.start - out[-1][1] < bridge_s:
            out[-1][1] = max(out[-1][1], seg.end)
        else:
            out.append([seg.start, seg.end])
    return [(a, b) for a, b in out]


def prune_rings(rings: Sequence[SegmentRing], max_bytes: int, now: float | None = None) -> int:
    """Prune each ring by its own age and budget, then delete the oldest segments of any ring
    until all together fit in ``max_bytes`` (the longest-kept recordings shrink first); never
    a held one. Returns how many segments went."""
    now = time.time() if now is None else now
    deleted = sum(len(ring.prune(now)) for ring in rings)
    owned = [(seg, ring) for ring in rings for seg in ring.segments()]
    over = sum(seg.size for seg, _ in owned) - max_bytes
    if over <= 0:
        return deleted
    held = {id(ring): ring.holds.spans() for ring in rings}
    broken = {id(ring) for ring in rings if ring.holds.broken}
    young = 0
    for seg, ring in sorted(owned, key=lambda pair: pair[0].start):
        if over <= 0:
            break
        if id(ring) in broken or any(
            seg.start < h.end and seg.end > h.start for h in held[id(ring)]
        ):
            continue
        try:
            ring.delete(seg)
        except ValueError:  # pinned since the holds were read
            continue
        over -= seg.size
        deleted += 1
        young += seg.end >= now - ring.keep_s
    if young:
        log.warning(
            "recordings over their %.2f GB budget (evidence.max_ring_gb): deleted %d segments "
            "before their retention ended", max_bytes / 1e9, young,
        )  # fmt: skip
    if over > 0:
        log.warning(
            "recordings still %.1f MB over their budget: the rest is on hold or pinned", over / 1e6
        )
    return deleted


def _adopt_legacy(root: Path, folder: Path) -> None:
    """Move segments and lists an older edge wrote into ``root`` itself into ``folder``."""
    if not root.is_dir():
        return
    moved = 0
    for entry in os.scandir(root):
        if entry.is_file() and entry.name.endswith((".ts", ".csv")):
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(entry.path, folder / entry.name)  # keeps the mtime: the wall clock
            moved += 1
    if moved:
        log.info("moved %d recorded files of %s into %s", moved, root, folder)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)

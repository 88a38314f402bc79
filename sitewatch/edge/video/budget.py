"""Whether the recording budget holds the configured retention: an estimate, said at start-up.

All continuous recordings of an edge share one disk budget (``evidence.max_ring_gb``) while
each camera and stream keeps its own ``keep_hours``; over the budget the oldest segments of
any ring go first (:func:`sitewatch.edge.video.recording.prune_rings`). A week of a 0.5 Mbit/s
sub-stream is about 38 GB, so the default 2 GB holds about 9 hours of one camera. The worker
calls :func:`check_ring_budget` at start and after every applied config; it logs a warning
with the numbers and what to change when the retention does not fit.

The rate of each stream is the ring's own (measured) once it holds :data:`MIN_MEASURED_S` of
segments, else :data:`ASSUMED_BITS_PER_S` (assumed); the warning says which. Sizes are bytes
(GB = 10⁹ bytes, as ``max_ring_gb``), rates bytes per hour, retention seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sitewatch.contract import messages as m
from sitewatch.edge.video.recording import CameraRecording

log = logging.getLogger(__name__)

ASSUMED_BITS_PER_S: Mapping[m.VideoStream, float] = {"detect": 0.5e6, "record": 4.0e6}
"""Bit rates assumed for a stream with too little recorded to measure: a typical H.264
sub-stream (640x360) and a 1080p main stream."""
MIN_MEASURED_S = 300.0
"""Seconds of segments a ring must hold before its own rate is used instead of the assumed."""
LISTED_STREAMS = 6
"""Streams named in the warning; the rest are counted."""


@dataclass(frozen=True)
class StreamNeed:
    """One recorded stream: its retention (seconds) and rate (bytes per hour)."""

    camera_id: str
    stream: m.VideoStream
    keep_s: float
    bytes_per_hour: float
    measured: bool

    @property
    def needed_bytes(self) -> float:
        return self.bytes_per_hour * self.keep_s / 3600.0

    def describe(self) -> str:
        """``cam1 detect: 168 h at 0.50 Mbit/s (measured) = 37.8 GB``."""
        how = "measured" if self.measured else "assumed"
        return (
            f"{self.camera_id} {self.stream}: {self.keep_s / 3600:g} h at "
            f"{self.bytes_per_hour * 8 / 3600 / 1e6:.2f} Mbit/s ({how}) = "
            f"{self.needed_bytes / 1e9:.1f} GB"
        )


@dataclass(frozen=True)
class RingBudget:
    """The retention every recorded stream asks for against the edge's one budget."""

    max_bytes: int
    needs: tuple[StreamNeed, ...]

    @property
    def needed_bytes(self) -> float:
        return sum(n.needed_bytes for n in self.needs)

    @property
    def short(self) -> bool:
        """Whether the configured retention does not fit in the budget."""
        return self.needed_bytes > self.max_bytes

    def kept_hours(self) -> float:
        """Hours back every stream keeps once the budget is full (the oldest of all rings go
        first, so all reach back to one moment, a stream kept less keeping only its own);
        the longest ``keep_s`` in hours when everything fits."""
        longest = max((n.keep_s for n in self.needs), default=0.0) / 3600.0
        if not self.short:
            return longest
        left, rate = float(self.max_bytes), sum(n.bytes_per_hour for n in self.needs)
        done = 0.0  # hours already paid for by every stream still growing
        for need in sorted(self.needs, key=lambda n: n.keep_s):
            hours = need.keep_s / 3600.0
            cost = rate * (hours - done)
            if cost >= left:
                break
            left, done, rate = left - cost, hours, rate - need.bytes_per_hour
        return done + left / rate if rate > 0 else done

    def warning(self) -> str | None:
        """What does not fit and what to change, or None when the retention fits."""
        if not self.short:
            return None
        listed = "; ".join(n.describe() for n in self.needs[:LISTED_STREAMS])
        more = len(self.needs) - LISTED_STREAMS
        if more > 0:
            listed += f"; and {more} more"
        cameras = len({n.camera_id for n in self.needs})
        return (
            f"continuous recording needs about {self.needed_bytes / 1e9:.1f} GB for its "
            f"configured retention ({cameras} cameras, {len(self.needs)} streams: {listed}), "
            f"but evidence.max_ring_gb is {self.max_bytes / 1e9:g} GB: once it is full the "
            f"oldest recordings go first, so every stream keeps only about "
            f"{self.kept_hours():.1f} h. Raise evidence.max_ring_gb to at least "
            f"{self.needed_bytes / 1e9:.0f}, lower evidence.keep_hours (or a camera's "
            "keep_hours), or expect the oldest hours to go first"
        )


def stream_need(
    camera_id: str, stream: m.VideoStream, keep_s: float, ring_segments: Sequence[tuple[float, int]]
) -> StreamNeed:
    """The need of one stream from its ring's ``(duration s, size bytes)`` segments: measured
    once they last :data:`MIN_MEASURED_S`, else the assumed rate of ``stream``."""
    seconds = sum(d for d, _ in ring_segments)
    if seconds >= MIN_MEASURED_S:
        rate = sum(size for _, size in ring_segments) / seconds * 3600.0
        return StreamNeed(camera_id, stream, keep_s, rate, measured=True)
    assumed = ASSUMED_BITS_PER_S[stream] / 8.0 * 3600.0
    return StreamNeed(camera_id, stream, keep_s, assumed, measured=False)


def ring_budget(recordings: Mapping[str, CameraRecording], max_bytes: int) -> RingBudget:
    """The budget of every recorded stream of ``recordings`` (camera id to its recording)."""
    needs = []
    for camera_id, recording in sorted(recordings.items()):
        for stream, ring in sorted(recording.rings.items()):
            segs = [(s.duration, s.size) for s in ring.refresh()]
            needs.append(stream_need(camera_id, stream, ring.keep_s, segs))
    return RingBudget(max_bytes, tuple(needs))


def check_ring_budget(recordings: Mapping[str, CameraRecording], max_bytes: int) -> RingBudget:
    """:func:`ring_budget`, logged: a warning when the retention does not fit, else one line."""
    budget = ring_budget(recordings, max_bytes)
    problem = budget.warning()
    if problem is not None:
        log.warning("%s", problem)
    elif budget.needs:
        log.info(
            "continuous recording needs about %.1f GB of its %.1f GB budget for %d streams",
            budget.needed_bytes / 1e9, max_bytes / 1e9, len(budget.needs),
        )  # fmt: skip
    return budget

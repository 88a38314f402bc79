"""Batches from all cameras, under a deadline, for one or more detector sessions.

Each camera is due every ``1 / detect_fps`` seconds. ``collect`` polls the cameras' latest
frames (capture never queues; a frame's picture is converted only when it is used), opens a
batch with the first due frame and closes it when it holds ``max_batch`` frames, when every
due camera's frame is in (a due camera whose newest frame is younger than ``deadline_s`` is
about to send the next one and is waited for; one that sent nothing for longer is not), or when
``deadline_s`` has passed. Frames older than ``max_age_s`` when taken are dropped and counted
per camera: video never backs up. ``run`` detects on a collected batch; cameras whose scene did
not change (``MotionGate``) keep their previous detections instead of taking a place in it.

Several threads may share one batcher, each with its own detector session: ``collect`` is
serialised (one thread takes frames at a time), ``run`` is not, so one batch is detected while
the next is collected and detected (ONNX Runtime releases the GIL). ``next_batch`` is both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sitewatch.core.geometry import Image
from sitewatch.edge.detect.looks import Looks
from sitewatch.edge.detections import AnalysedFrame, Detections
from sitewatch.edge.video.capture import Frame
from sitewatch.edge.video.motion import MotionGate


class FrameSource(Protocol):
    """What the batcher needs of a camera reader (``sitewatch.edge.video.capture.CameraReader``)."""

    name: str

    def latest(self, after_seq: int) -> Frame | None:
        """The newest frame with ``seq > after_seq``, or None."""
        ...


@dataclass
class _Slot:
    source: FrameSource
    period_s: float
    gate: MotionGate | None
    looks: Looks = field(default_factory=Looks)
    next_due: float = 0.0
    last_seq: int = -1
    last_detections: Detections | None = None
    gate_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class BatchStats:
    batches: int = 0
    frames: int = 0
    reused: int = 0
    dropped_stale: int = 0
    dropped_by_camera: dict[str, int] = field(default_factory=dict)
    """Stale drops per camera since the start (the camera status's ``frames_dropped``)."""
    inference_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def dropped(self, camera: str, count: int = 1) -> None:
        """Count ``count`` frames of ``camera`` dropped as stale."""
        with self.lock:
            self.dropped_stale += count
            self.dropped_by_camera[camera] = self.dropped_by_camera.get(camera, 0) + count

    def percentile(self, q: float) -> float:
        return float(np.percentile(list(self.inference_ms), q)) if self.inference_ms else 0.0

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


LOOKS = Looks()
"""The looks of a camera added without any: the ``Looks`` defaults."""
DetectFn = Callable[[Sequence[Image], Sequence[Looks]], list[Detections]]
"""Frames and, per frame, its camera's :class:`Looks` (``Detector.detect_looks``)."""


class Batcher:
    def __init__(
        self,
        detect: DetectFn,
        *,
        max_batch: int = 8,
        deadline_s: float = 0.15,
        max_age_s: float = 1.0,
        poll_s: float = 0.005,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if deadline_s < 0 or max_age_s <= 0:
            raise ValueError(
                f"deadline_s must be >= 0 and max_age_s > 0, got {deadline_s} and {max_age_s}"
            )
        self._detect = detect
        self.max_batch, self.deadline_s, self.max_age_s = max_batch, deadline_s, max_age_s
        self._poll_s, self._clock = poll_s, clock
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._collect_lock = threading.Lock()
        self.stats = BatchStats()

    def add(
        self, source: FrameSource, fps: float, gate: MotionGate | None = None, looks: Looks = LOOKS
    ) -> None:
        """Analyse ``source`` at ``fps`` with ``looks`` (its camera's second looks and input)."""
        if fps <= 0:
            raise ValueError(f"detect fps of {source.name} must be > 0, got {fps}")
        with self._lock:
            self._slots[source.name] = _Slot(source, 1.0 / fps, gate, looks)

    def remove(self, camera_id: str) -> None:
        with self._lock:
            self._slots.pop(camera_id, None)

    def next_batch(
        self, stop: threading.Event, max_wait_s: float | None = None
    ) -> list[AnalysedFrame]:
        """``collect`` a batch, then ``run`` it; ``[]`` when none came (see ``collect``)."""
        frames = self.collect(stop, max_wait_s)
        return self.run(frames) if frames else []

    def collect(self, stop: threading.Event, max_wait_s: float | None = None) -> list[Frame]:
        """Block until a batch is collected (or ``stop`` is set); its frames, time-ordered.

        With ``max_wait_s``, give up and return ``[]`` when no frame came for that long (every
        camera down): the caller's other duties (timers, commands) must not wait for video.
        """
        with self._collect_lock:
            frames: list[Frame] = []
            opened = 0.0
            began = self._clock()
            while not stop.is_set():
                now = self._clock()
                taken, awaited = self._take_due(now, self.max_batch - len(frames))
                frames.extend(taken)
                if frames and not opened:
                    opened = now
                if len(frames) >= self.max_batch or (
                    frames and (not awaited or now - opened >= self.deadline_s)
                ):
                    break
                if not frames and max_wait_s is not None and now - began >= max_wait_s:
                    break
                stop.wait(self._poll_s)
            return frames

    def _take_due(self, now: float, room: int) -> tuple[list[Frame], bool]:
        """Due frames (up to ``room``), and whether a due camera is about to send one. A frame
        of a camera with the tile look goes in a batch of its own (its tiles take many times a
        frame's inference: the other cameras' frames must not wait behind them, and one batch
        must stay well inside the watchdog's ``stall_s``)."""
        taken: list[Frame] = []
        awaited = False
        with self._lock:
            slots = sorted(self._slots.values(), key=lambda s: s.next_due)
        for slot in slots:
            if len(taken) >= room or now < slot.next_due:
                continue
            if slot.looks.tile_look and (taken or room < self.max_batch):
                continue  # due still: the next batch takes it
            frame = slot.source.latest(slot.last_seq)
            if frame is None:
                newest = slot.source.latest(0)  # the frame taken last: is the stream live?
                awaited |= newest is not None and now - newest.captured_at < self.deadline_s
                continue
            slot.last_seq = frame.seq
            if now - frame.captured_at > self.max_age_s:
                self.stats.dropped(frame.camera)
                continue
            # stay on the camera's rhythm, but never try to catch up on missed slots
            slot.next_due = max(slot.next_due + slot.period_s, now + slot.period_s / 2)
            taken.append(frame)
            if slot.looks.tile_look:
                return taken, False
        return taken, awaited

    def run(self, frames: Sequence[Frame], detect: DetectFn | None = None) -> list[AnalysedFrame]:
        """Detections for ``frames`` (a ``collect``-ed batch) with ``detect`` (default: the
        batcher's own); safe to call from several threads, each with its own detector."""
        fresh: list[Frame] = []
        out: dict[int, AnalysedFrame] = {}
        for i, frame in enumerate(frames):
            slot = self._slots.get(frame.camera)
            if slot is None or slot.gate is None:
                fresh.append(frame)
                continue
            with slot.gate_lock:
                prev = slot.last_detections
                changed = slot.gate.should_analyse(frame.image, frame.ts)
            if changed or prev is None:
                fresh.append(frame)
            else:
                out[i] = analysed(frame, prev, reused=True)
        if fresh:
            began = time.perf_counter()
            slots = [self._slots.get(f.camera) for f in fresh]
            looks = [s.looks if s else LOOKS for s in slots]
            found = (detect or self._detect)([f.image for f in fresh], looks)
            self.stats.inference_ms.append((time.perf_counter() - began) * 1000)
            with self.stats.lock:
                self.stats.batches += 1
                self.stats.frames += len(fresh)
            by_id = {id(f): d for f, d in zip(fresh, found, strict=True)}
            for i, frame in enumerate(frames):
                if i not in out:
                    out[i] = analysed(frame, by_id[id(frame)], reused=False)
                    slot = self._slots.get(frame.camera)
                    if slot:
                        slot.last_detections = out[i].detections
        with self.stats.lock:
            self.stats.reused += len(frames) - len(fresh)
        return [out[i] for i in range(len(frames))]

    def looks(self, camera: str) -> Looks | None:
        """The camera's looks now (None: no such camera)."""
        with self._lock:
            slot = self._slots.get(camera)
            return slot.looks if slot else None

    def set_looks(self, camera: str, looks: Looks) -> None:
        """A camera's looks after a config change (a new ``input_size`` restarts the camera)."""
        with self._lock:
            if camera in self._slots:
                self._slots[camera].looks = looks


def analysed(frame: Frame, detections: Detections, reused: bool) -> AnalysedFrame:
    """The record of a captured frame and its detections."""
    return AnalysedFrame(
        frame.ts, frame.image, detections, frame.camera, frame.seq, frame.captured_at, reused
    )

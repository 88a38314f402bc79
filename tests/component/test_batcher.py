"""Batcher on in-memory cameras: one detector call per batch, deadlines, stale drops, gating."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from sitewatch.edge.detect.batcher import LOOKS, Batcher
from sitewatch.edge.detect.looks import Looks
from sitewatch.edge.detections import Detections
from sitewatch.edge.video.capture import Frame
from sitewatch.edge.video.motion import MotionGate


class Camera:
    """An in-memory camera: the test sets its latest frame, like capture does."""

    def __init__(self, camera_id: str) -> None:
        self.name = camera_id
        self.frame: Frame | None = None

    def put(self, seq: int, captured_at: float, seed: int = 0) -> None:
        image = np.random.default_rng(seed).integers(0, 255, (36, 64, 3), dtype=np.uint8)
        self.frame = Frame(self.name, seq, captured_at, captured_at, image)

    def latest(self, after_seq: int) -> Frame | None:
        return self.frame if self.frame and self.frame.seq > after_seq else None


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingDetector:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.sizes: list[list[int | None]] = []
        self.heads: list[list[bool]] = []
        self.coarse: list[list[bool]] = []
        self.tiles: list[list[bool]] = []

    def __call__(self, images: Sequence[np.ndarray], looks: Sequence[Looks]) -> list[Detections]:
        assert len(looks) == len(images)
        self.calls.append(len(images))
        self.sizes.append([x.input_size for x in looks])
        self.heads.append([x.head_look for x in looks])
        self.coarse.append([x.coarse_look for x in looks])
        self.tiles.append([x.tile_look for x in looks])
        return [Detections.empty() for _ in images]


def make(n: int, **kwargs: float) -> tuple[Batcher, list[Camera], CountingDetector, Clock]:
    det, clock = CountingDetector(), Clock()
    batcher = Batcher(det, clock=clock, poll_s=0.0, **kwargs)  # type: ignore[arg-type]
    cams = [Camera(f"cam{i}") for i in range(n)]
    for cam in cams:
        batcher.add(cam, fps=2.0)
    return batcher, cams, det, clock


def test_frames_of_all_cameras_go_in_one_call() -> None:
    batcher, cams, det, clock = make(3, max_batch=8, deadline_s=0.0)
    for cam in cams:
        cam.put(1, clock.now)
    out = batcher.next_batch(threading.Event())
    assert det.calls == [3]
    assert sorted(a.camera for a in out) == ["cam0", "cam1", "cam2"]


def test_each_frame_goes_with_its_cameras_input_size() -> None:
    det, clock = CountingDetector(), Clock()
    batcher = Batcher(det, clock=clock, poll_s=0.0, deadline_s=0.0)
    near, far = Camera("near"), Camera("far")
    batcher.add(near, fps=2.0)
    batcher.add(far, fps=2.0, looks=Looks(input_size=640))
    near.put(1, clock.now)
    far.put(1, clock.now)
    out = batcher.next_batch(threading.Event())
    sizes = dict(zip((a.camera for a in out), det.sizes[0], strict=True))
    assert sizes == {"near": None, "far": 640}


@pytest.mark.parametrize("look", ["head_look", "coarse_look", "tile_look"])
def test_each_frame_goes_with_its_cameras_look_and_a_change_applies(look: str) -> None:
    det, clock = CountingDetector(), Clock()
    batcher = Batcher(det, clock=clock, poll_s=0.0, deadline_s=0.0)
    on, off = Camera("on"), Camera("off")
    batcher.add(on, fps=2.0, looks=replace(LOOKS, **{look: True}))
    batcher.add(off, fps=2.0, looks=replace(LOOKS, **{look: False}))
    every = {"head_look": det.heads, "coarse_look": det.coarse, "tile_look": det.tiles}[look]
    for seq in (1, 2):
        on.put(seq, clock.now)
        off.put(seq, clock.now)
        got: dict[str, bool] = {}
        while len(got) < 2:  # a tile-look frame comes in a batch of its own
            out = batcher.next_batch(threading.Event())
            got |= dict(zip((a.camera for a in out), every[-1], strict=True))
        assert got == ({"on": True, "off": False} if seq == 1 else {"on": False, "off": True})
        nothing = Looks(second_look=False, head_look=False)
        batcher.set_looks("on", nothing)
        batcher.set_looks("off", replace(nothing, **{look: True}))
        assert batcher.looks("on") == nothing and batcher.looks("gone") is None
        clock.now += 1.0


def test_a_frame_of_a_camera_with_the_tile_look_goes_in_a_batch_of_its_own() -> None:
    det, clock = CountingDetector(), Clock()
    batcher = Batcher(det, clock=clock, poll_s=0.0, deadline_s=0.0)
    cams = [Camera(name) for name in ("a", "wide", "b", "wide2")]
    for cam in cams:
        batcher.add(cam, fps=2.0, looks=Looks(tile_look=cam.name.startswith("wide")))
    for seq in (1, 2):
        for cam in cams:
            cam.put(seq, clock.now)
        got = [sorted(a.camera for a in batcher.next_batch(threading.Event())) for _ in range(3)]
        assert sorted(got) == [["a", "b"], ["wide"], ["wide2"]], got  # each frame once
        assert det.tiles[-3:] == [[f[0].startswith("w")] * len(f) for f in got]
        clock.now += 1.0
    batcher.set_looks("wide", Looks(second_look=False, head_look=False))  # off: batched again
    for cam in cams:
        cam.put(3, clock.now)
    got = [sorted(a.camera for a in batcher.next_batch(threading.Event())) for _ in range(2)]
    assert sorted(got) == [["a", "b", "wide"], ["wide2"]], got


def test_max_batch_splits_and_the_rest_follow() -> None:
    batcher, cams, det, clock = make(3, max_batch=2, deadline_s=0.0)
    for cam in cams:
        cam.put(1, clock.now)
    first = batcher.next_batch(threading.Event())
    second = batcher.next_batch(threading.Event())
    assert det.calls == [2, 1]
    assert {a.camera for a in first + second} == {"cam0", "cam1", "cam2"}


def test_stale_frames_are_dropped_and_counted() -> None:
    batcher, cams, _det, clock = make(2, max_batch=8, deadline_s=0.0, max_age_s=1.0)
    cams[0].put(1, clock.now - 5.0)  # 5 s old
    cams[1].put(1, clock.now)
    out = batcher.next_batch(threading.Event())
    assert [a.camera for a in out] == ["cam1"]
    assert batcher.stats.dropped_stale == 1


def test_a_camera_is_not_analysed_faster_than_its_fps() -> None:
    batcher, cams, _det, clock = make(1, max_batch=8, deadline_s=0.0)
    stop = threading.Event()
    cams[0].put(1, clock.now)
    batcher.next_batch(stop)
    clock.now += 0.1
    cams[0].put(2, clock.now)
    timer = threading.Timer(0.05, stop.set)
    timer.start()
    assert batcher.next_batch(stop) == []  # due again only 0.5 s later
    timer.cancel()
    clock.now += 0.5
    cams[0].put(3, clock.now)
    assert [a.seq for a in batcher.next_batch(threading.Event())] == [3]


def test_still_camera_reuses_its_detections() -> None:
    det, clock = CountingDetector(), Clock()
    batcher = Batcher(det, clock=clock, poll_s=0.0, deadline_s=0.0)
    cam = Camera("still")
    batcher.add(cam, fps=2.0, gate=MotionGate(max_skip_s=60))
    for seq in (1, 2, 3):
        cam.put(seq, clock.now, seed=0)  # same picture every time
        out = batcher.next_batch(threading.Event())
        clock.now += 0.5
    assert det.calls == [1]
    assert out[0].reused and batcher.stats.reused == 2


def test_stop_returns_an_empty_batch() -> None:
    batcher, _, det, _ = make(2)
    stop = threading.Event()
    stop.set()
    assert batcher.next_batch(stop) == []
    assert det.calls == []


def test_no_frame_for_max_wait_returns_an_empty_batch() -> None:
    """Every camera down: the caller gets control back (to run timers and commands)."""
    det = CountingDetector()
    batcher = Batcher(det, poll_s=0.001)  # the real clock: max_wait_s is a real wait
    batcher.add(Camera("down"), fps=2.0)
    assert batcher.next_batch(threading.Event(), max_wait_s=0.05) == []
    assert det.calls == []

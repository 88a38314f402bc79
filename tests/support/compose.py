"""Deterministic camera clips for end-to-end tests, composed at test time from ../shared stills.

The shared clips' people are small and the detector is imperfect on them, so an end-to-end test
that needs "one bare-headed worker" or "one smoker" composes its own: a cut-out of a still
(a region of a dataset image holding exactly the person wanted) pasted on a plain, textured
background, visible from ``visible[0]`` to ``visible[1]`` seconds of a ``seconds``-long clip.
Every frame gets fresh sensor-like noise and the cut-out a sub-pixel jitter, so the video is
alive like a camera's, while the motion gate still sees a still scene between the person's
arrival and departure.

Encoded like a camera's sub-stream (as samples/make_streams.py): H.264 Main, no B-frames,
25 fps, a key frame every second (GOP 25), yuv420p. Clips are cached under build/e2e_clips/
(git-ignored) by a hash of the inputs: the third-party images are never committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SITEWATCH_SHARED", REPO.parent / "shared"))
CACHE = REPO / "build" / "e2e_clips"
FPS = 25
GOP = 25
SIZE = (640, 360)  # width, height: a typical sub-stream

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Subject:
    """A region of a still, pasted on the canvas with its top-left corner at ``at``."""

    image: Path
    crop: tuple[float, float, float, float]  # x1, y1, x2, y2 of the still, 0..1
    at: tuple[int, int]  # canvas pixels
    height: int  # rendered height in canvas pixels (width keeps the aspect ratio)

    def cutout(self) -> Image:
        still = cv2.imread(str(self.image))
        if still is None:
            raise FileNotFoundError(f"cannot read {self.image}")
        h, w = still.shape[:2]
        x1, y1, x2, y2 = self.crop
        part = still[round(y1 * h) : round(y2 * h), round(x1 * w) : round(x2 * w)]
        width = round(part.shape[1] * self.height / part.shape[0])
        return np.asarray(cv2.resize(part, (width, self.height), interpolation=cv2.INTER_AREA))


# A bare-headed man (no hard hat), alone in this cut: hardhat val image 3380, head box
# centre (0.169, 0.279), 0.11 x 0.14 of the image; the next person starts right of x = 0.32.
BARE_HEAD = Subject(
    SHARED / "datasets" / "hardhat" / "images" / "val" / "hard_hat_workers3380.jpg",
    crop=(0.0, 0.19, 0.30, 0.78),
    at=(250, 30),
    height=310,
)
# A woman standing, smoking, a cigarette at her lips: cigarette val image 203 (one person).
SMOKER = Subject(
    SHARED
    / "datasets"
    / "cigarette"
    / "images"
    / "val"
    / "203_jpg.rf.0036ffb61d0e5a1f9a5dc3deb0f5335e.jpg",
    crop=(0.0, 0.0, 1.0, 1.0),
    at=(170, 20),
    height=300,
)


def background(seed: int = 0) -> Image:
    """A plain wall-like scene: a grey gradient with soft, static blotches."""
    w, h = SIZE
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 150, w, dtype=np.float32)[None, :, None]
    base = np.broadcast_to(ramp, (h, w, 3)).copy()
    blotches = cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 9)
    base += blotches + np.asarray([0, 4, 8], np.float32)  # a slightly warm tint
    return np.clip(base, 0, 255).astype(np.uint8)


def render_frame(
    back: Image, cutout: Image | None, at: tuple[int, int], i: int, rng: np.random.Generator
) -> Image:
    frame = back.astype(np.int16)
    if cutout is not None:
        # a sub-pixel sway (0.4 px), as a camera on a pole: never enough to look like motion
        dx, dy = 0.4 * np.sin(i / 7.0), 0.4 * np.cos(i / 11.0)
        m = np.float32([[1, 0, at[0] + dx], [0, 1, at[1] + dy]])
        w, h = SIZE
        pasted = cv2.warpAffine(
            cutout, m, (w, h), borderMode=cv2.BORDER_TRANSPARENT, dst=back.copy()
        )
        frame = pasted.astype(np.int16)
    frame += rng.integers(-3, 4, frame.shape, dtype=np.int16)
    return np.clip(frame, 0, 255).astype(np.uint8)


def compose_clip(
    subject: Subject,
    seconds: float,
    visible: tuple[float, float],
    walk: tuple[tuple[int, int], float] | None = None,
) -> Path:
    """The clip's path (built once, then cached): ``subject`` visible during ``visible``;
    with ``walk = (to, walk_s)`` it walks in a straight line from ``subject.at`` to ``to``
    (canvas pixels) over the first ``walk_s`` seconds it is visible, then stands there."""
    if not subject.image.is_file():
        import pytest

        pytest.skip(f"{subject.image} not found: put ../shared beside the checkout")
    spec: dict[str, Any] = {"subject": asdict(subject), "seconds": seconds, "visible": visible}
    spec |= {"v": 1} if walk is None else {"v": 1, "walk": walk}
    spec["subject"]["image"] = hashlib.sha256(subject.image.read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    out = CACHE / f"{subject.image.stem[:24]}_{seconds:g}s_{key}.mp4"
    if out.is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.mp4")
    w, h = SIZE
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
        "-threads", "2", "-movflags", "+faststart", str(tmp),
    ]  # fmt: skip
    back, cutout = background(), subject.cutout()
    rng = np.random.default_rng(1)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i in range(round(seconds * FPS)):
            shown = visible[0] <= i / FPS < visible[1]
            at = subject.at
            if walk is not None:
                (tx, ty), walk_s = walk
                f = min(max((i / FPS - visible[0]) / walk_s, 0.0), 1.0)
                at = (round(at[0] + f * (tx - at[0])), round(at[1] + f * (ty - at[1])))
            frame = render_frame(back, cutout if shown else None, at, i, rng)
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
        if proc.wait(120) != 0:
            raise RuntimeError(f"ffmpeg could not encode {out.name} (exit {proc.returncode})")
        tmp.replace(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        tmp.unlink(missing_ok=True)
    return out


def still_frame(subject: Subject) -> Image:
    """One frame with the subject visible, as the clip shows it (for checking the detector)."""
    return render_frame(background(), subject.cutout(), subject.at, 0, np.random.default_rng(1))

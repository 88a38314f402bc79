"""What motion gating saves: ``python -m bench.motion_gate [--fps 2]``.

For each sample clip, frames sampled at the detection rate go through ``MotionGate``; the
share of inferences skipped is reported next to the baseline (no gate: every frame analysed)
and the gate's own cost per frame. A synthetic still scene (the clip's first frame with
sensor noise) shows the other end: an idle site at night.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.edge.video.motion import MotionGate

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))
Frame = npt.NDArray[np.uint8]


def sampled(path: Path, fps: float) -> Iterator[tuple[float, Frame]]:
    cap = cv2.VideoCapture(str(path))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(src_fps / fps))
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            yield index / src_fps, frame
        index += 1
    cap.release()


def still(path: Path, fps: float, seconds: float) -> Iterator[tuple[float, Frame]]:
    first = next(sampled(path, fps))[1]
    rng = np.random.default_rng(0)
    for i in range(int(seconds * fps)):
        noise = rng.normal(0, 2.0, first.shape)
        yield i / fps, np.clip(first + noise, 0, 255).astype(np.uint8)


def run(frames: Iterator[tuple[float, Frame]]) -> dict[str, float]:
    gate = MotionGate()
    spent = 0.0
    for ts, frame in frames:
        began = time.perf_counter()
        gate.should_analyse(frame, ts)
        spent += time.perf_counter() - began
    total = gate.analysed + gate.skipped
    return {
        "frames": total,
        "analysed": gate.analysed,
        "skipped_share": round(gate.skipped / total, 3) if total else 0.0,
        "gate_us_per_frame": round(spent / max(total, 1) * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fps", type=float, default=2.0)
    a = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    clips = sorted((SHARED / "clips").glob("*.mp4"))
    for clip in clips:
        results[clip.name] = run(sampled(clip, a.fps))
    if clips:
        results[f"still scene from {clips[0].name}, 60 s"] = run(still(clips[0], a.fps, 60))
    print(f"detection at {a.fps} fps; baseline = no gate (every sampled frame analysed)")
    for name, r in results.items():
        print(
            f"{name:48s} frames {r['frames']:4.0f}  analysed {r['analysed']:4.0f}  "
            f"inference saved {100 * r['skipped_share']:5.1f}%  gate {r['gate_us_per_frame']} us"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()

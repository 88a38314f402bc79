"""Model input size: accuracy against speed, ``python -m bench.input_size [--sizes 320,384,416]``.

For each square input size (the edge letterboxes 16:9 frames into the rectangular part of it,
e.g. 416x256 at 416), one run measures side by side:

* AP50 per label (one label per box, as deployed; second look off) on
  1. ``../shared/datasets/hardhat`` val as it is (web photos, heads 20-100 px), and
  2. the same photos made far away: each pasted at ``--scale`` of the height of a 640x360
     sub-stream frame (bench/far_set.py), so heads are 5-40 px as on a site camera;
* ms per 640x360 frame at batch 8 on ONE thread with the rectangular input (how each of the
  edge's detector sessions runs), interleaved round by round over the sizes, reported as a
  ratio against the model's own size measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench.far_set import ROOT, SHARED, far_set
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.tools.evaluate import AP_CONF, evaluate


def ap_row(model: Path, dataset: Path, size: int) -> dict[str, float]:
    det = Detector(model, conf=AP_CONF, second_look=False, input_size=size, rect=True)
    report = evaluate(det, dataset, "val")
    return {s.label: round(s.ap50, 3) for s in report.labels if s.label in ("helmet", "head")}


def speed(model: Path, sizes: list[int], frames: list[np.ndarray], rounds: int) -> dict[int, float]:
    dets = {
        s: Detector(model, threads=1, second_look=False, input_size=s, rect=True) for s in sizes
    }
    times: dict[int, list[float]] = {s: [] for s in sizes}
    for det in dets.values():
        det.detect(frames)  # warm up
    for _ in range(rounds):
        for size, det in dets.items():
            t = time.perf_counter()
            det.detect(frames)
            times[size].append((time.perf_counter() - t) * 1000 / len(frames))
    return {s: statistics.median(v) for s, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--sizes", default="320,352,384,416")
    ap.add_argument("--scale", type=float, default=0.5, help="photo height / frame height")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    sizes = [int(v) for v in a.sizes.split(",")]
    near = SHARED / "datasets" / "hardhat"
    far = far_set("hardhat", ROOT / "build" / f"bench_far_hardhat_{a.scale}", a.scale, (640, 360))
    paths = sorted((far / "images" / "val").glob("*.jpg"))[:8]
    frames = [f for f in (cv2.imread(str(p)) for p in paths) if f is not None]
    ms = speed(a.model, sizes, frames, a.rounds)
    base = ms[max(sizes)]
    rows = []
    for size in sizes:
        row = {
            "size": size,
            "ms_per_frame": round(ms[size], 2),
            "speed_vs_largest": base / ms[size],
        }
        row |= {f"near_{k}": v for k, v in ap_row(a.model, near, size).items()}
        row |= {f"far_{k}": v for k, v in ap_row(a.model, far, size).items()}
        rows.append(row)
        print(
            f"{size}: {row['ms_per_frame']:.2f} ms/frame ({row['speed_vs_largest']:.2f}x)  "
            f"near helmet {row['near_helmet']:.3f} head {row['near_head']:.3f}  "
            f"far helmet {row['far_helmet']:.3f} head {row['far_head']:.3f}",
            flush=True,
        )
    print(json.dumps({"bench": "input_size", "model": str(a.model), "rows": rows}))


if __name__ == "__main__":
    main()

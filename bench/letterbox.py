"""Letterboxing speed: ``python -m bench.letterbox [--batch 8] [--rounds 200]``.

Times ``sitewatch.edge.detect.letterbox.letterbox_batch`` (one ``np.multiply`` per colour plane into
the ``(B, 3, H, W)`` tensor) against the baseline it replaced (a strided ``[..., ::-1]`` +
``transpose`` + ``astype`` + contiguous copy), interleaved round by round on the same real
640x360 frames of the hard-hat val set, at the edge's rectangular input (256x416). Also checks
that both give bit-identical tensors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sitewatch.edge.detect.letterbox import (
    PAD_VALUE,
    FloatArray,
    letterbox_batch,
    letterbox_geometry,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    paths = sorted((SHARED / "datasets/hardhat/images/val").glob("*"))[: args.batch]
    photos = [cv2.imread(str(p)) for p in paths]
    if not paths or any(photo is None for photo in photos):
        raise SystemExit(f"bench: expected {args.batch} readable images under {SHARED}/datasets")
    frames = [np.asarray(cv2.resize(p, (640, 360)), np.uint8) for p in photos if p is not None]
    input_hw = (256, 416)

    def baseline() -> FloatArray:
        """The implementation this replaced: the same canvas, then one strided conversion."""
        in_h, in_w = input_hw
        canvas = np.full((len(frames), in_h, in_w, 3), PAD_VALUE, dtype=np.uint8)
        for i, frame in enumerate(frames):
            lb = letterbox_geometry(frame.shape[:2], input_hw)
            resized = cv2.resize(frame, (in_w, round(frame.shape[0] * lb.scale)))
            canvas[i, lb.pad_y : lb.pad_y + resized.shape[0]] = resized
        out = canvas[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
        out *= np.float32(1.0 / 255.0)
        return np.ascontiguousarray(out)

    def planes() -> FloatArray:
        return letterbox_batch(frames, input_hw)[0]

    assert np.array_equal(baseline(), planes()), "both conversions must give the same tensor"
    whole: dict[str, Callable[[], object]] = {
        "baseline (strided)": baseline,
        "per plane (now)": planes,
    }
    times: dict[str, list[float]] = {name: [] for name in whole}
    for _ in range(args.rounds):
        for name, fn in whole.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1000 / len(frames))
    base = statistics.median(times["baseline (strided)"])
    rows = {n: round(statistics.median(v), 3) for n, v in times.items()}
    for name, ms in rows.items():
        print(f"{name:20s} {ms:7.3f} ms/frame  {base / ms:5.2f}x vs baseline")
    print(json.dumps({"bench": "letterbox", "batch": len(frames), "ms_per_frame": rows}))


if __name__ == "__main__":
    main()

"""Colour conversion of decoded frames: ``python -m bench.colour [--frames 200] [--rounds 5]``.

Times ``sitewatch.edge.video.capture._bgr`` (OpenCV's I420 to BGR for limited-range YUV 4:2:0)
against the baseline it replaced (PyAV's ``to_ndarray(format="bgr24")``, FFmpeg's swscale),
interleaved round by round on freshly decoded 640x360 frames of a sample clip's sub-stream (the size
the edge analyses; each frame converted once, as on the edge: PyAV keeps a frame's swscale
context, so a second conversion of the same frame is cheaper), and measures both against the
BT.601 formula (tests/unit/test_colour.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from sitewatch.edge.video.capture import _bgr

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))


def bt601(frame: av.VideoFrame) -> np.ndarray:
    """The limited-range BT.601 formula, chroma repeated 2x2 (what a decoder hands over)."""
    h, w = frame.height, frame.width
    i420 = frame.to_ndarray().astype(np.float64)
    y = i420[:h] - 16
    u = i420[h : h + h // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128
    v = i420[h + h // 4 :].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128
    bgr = [1.164 * y + 2.017 * u, 1.164 * y - 0.392 * u - 0.813 * v, 1.164 * y + 1.596 * v]
    return np.clip(np.stack(bgr, axis=-1), 0, 255)


def _decode(path: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clip", type=Path, default=SHARED / "clips" / "factory_floor_cctv.mp4")
    args = ap.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"bench: clip {args.clip} not found; pass --clip")
    built = subprocess.run(
        [sys.executable, str(ROOT / "samples" / "make_streams.py"), "--out",
         str(ROOT / "build" / "streams"), "--variant", "sub", str(args.clip)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    stream = Path(built.stdout.strip().splitlines()[-1])
    frames = _decode(stream, args.frames)
    variants: dict[str, Callable[[av.VideoFrame], np.ndarray]] = {
        "swscale (baseline)": lambda f: f.to_ndarray(format="bgr24"),
        "OpenCV (sitewatch.edge.video.capture._bgr)": _bgr,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, convert in variants.items():
            fresh = _decode(stream, args.frames)  # each frame converted once, as on the edge
            began = time.perf_counter()
            for frame in fresh:
                convert(frame)
            times[name].append((time.perf_counter() - began) / len(frames) * 1000)
    base = statistics.median(times["swscale (baseline)"])
    rows = []
    for name, convert in variants.items():
        errors = [np.abs(convert(f).astype(np.float64) - bt601(f)) for f in frames[:20]]
        ms = statistics.median(times[name])
        rows.append(
            {
                "variant": name,
                "ms_per_frame": round(ms, 3),
                "speedup": round(base / ms, 2),
                "mean_abs_error_vs_bt601": round(float(np.mean(errors)), 3),
            }
        )
    fmt = frames[0].format.name
    print(
        f"# {len(frames)} frames {frames[0].width}x{frames[0].height} {fmt}, {args.rounds} rounds"
    )
    for row in rows:
        print(
            f"{row['variant']:30s} {row['ms_per_frame']:7.3f} ms/frame {row['speedup']:5.2f}x "
            f"error {row['mean_abs_error_vs_bt601']:.3f} grey levels"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

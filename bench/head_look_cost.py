"""What the head look (or the coarse look) costs an edge camera:
``python -m bench.head_look_cost [--model M] [--look head|coarse]``.

The edge's detector as it runs (one thread, batch 8, rectangular input 416x256 for 640x360
frames) on 640x360 sub-stream frames with people: the ``sub360`` part of the realistic set
(``bench/realistic_set.py``) and the factory clip's frames. Head look off (the baseline) and
on are interleaved round by round, so background load hits both alike; the result is the
ratio of detector time per frame, and the crops per frame. A camera with the head look costs
the box that ratio in detector time (the reader, tracker and recorder cost the same), so on a
box whose detector is its bottleneck N such cameras take the place of N x ratio without it.
``--look coarse`` measures the coarse look instead (one more pass at 256; no crops). Results in
bench/RESULTS.md, "Head look" and "Coarse and fine looks".
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench.realistic_set import ROOT, build
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.tools.dataset import open_dataset


def frames(count: int) -> list[np.ndarray]:
    sub = open_dataset(build("sub360", ROOT / "build" / "realistic")).images[:count]
    factory = open_dataset(build("factory", ROOT / "build" / "realistic")).images
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in (*sub, *factory)]
    return [cv2.resize(im, (640, 360)) for im in images]  # the factory clip is 640x352


def ms_per_frame(
    det: Detector, images: list[np.ndarray], heads: bool, coarse: bool = False
) -> float:
    began = time.perf_counter()
    for i in range(0, len(images), 8):
        n = len(chunk := images[i : i + 8])
        det.detect(chunk, look=[False] * n, heads=[heads] * n, coarse=[coarse] * n)
    return 1000 * (time.perf_counter() - began) / len(images)


def crops_per_frame(det: Detector, images: list[np.ndarray]) -> float:
    """Head-look crops a frame, counted from the regions the detector would crop."""
    total = 0
    for image in images:
        found = det.detect([image], look=[False], heads=[False])[0]
        whole = min(256 / image.shape[0], 416 / image.shape[1])
        total += len(det._regions(found, image.shape[:2], whole, heads=True))
    return total / len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--frames", type=int, default=64, help="sub360 frames (and 11 factory)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--crop-size", type=int, help="the crops' input side (default: the model's)")
    ap.add_argument("--look", choices=("head", "coarse"), default="head", help="the look measured")
    a = ap.parse_args()
    images = frames(a.frames)
    det = Detector(a.model, threads=1, rect=True, second_look=False, head_crop_size=a.crop_size)
    heads, coarse = a.look == "head", a.look == "coarse"
    ms_per_frame(det, images[:8], heads, coarse)  # warm-up
    off: list[float] = []
    on: list[float] = []
    for _ in range(a.rounds):
        off.append(ms_per_frame(det, images, False))
        on.append(ms_per_frame(det, images, heads, coarse))
    result = {
        "model": str(a.model),
        "look": a.look,
        "frames": len(images),
        "rounds": a.rounds,
        "ms_per_frame_off": round(statistics.median(off), 1),
        "ms_per_frame_on": round(statistics.median(on), 1),
        "ratio": round(statistics.median(on) / statistics.median(off), 2),
        "crops_per_frame": round(crops_per_frame(det, images), 2) if heads else 0,
        "crop_size": min(det.head_crop_hw),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

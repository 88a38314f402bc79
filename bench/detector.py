"""Detector speed on this CPU: ``python -m bench.detector [--models A.onnx B.onnx]``.

Each variant (model x batch x threads x graph optimisation) runs ``Detector.detect`` on the
same real hard-hat val frames; the variants are interleaved round by round so background load
hits them alike, and every result is reported as a ratio against the baseline variant (the
first model, batch 1, ONNX Runtime's default options) measured in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitewatch.edge.detect.detector import Detector

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))


@dataclass
class Variant:
    model: Path
    batch: int
    threads: int
    optimization: str
    second_look: bool = False

    @property
    def name(self) -> str:
        look = " +second-look" if self.second_look else ""
        return f"{self.model.name} b{self.batch} t{self.threads} opt={self.optimization}{look}"


def frames(count: int) -> list[np.ndarray]:
    folder = SHARED / "datasets" / "hardhat" / "images" / "val"
    paths = sorted(folder.iterdir())[:count]
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]


def ms_per_image(det: Detector, images: list[np.ndarray], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        det.detect(images[i : i + batch])
    return (time.perf_counter() - start) * 1000 / len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--models",
        type=Path,
        nargs="+",
        default=[ROOT / "models" / "sitewatch-fp32.onnx", ROOT / "models" / "sitewatch.onnx"],
    )
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="also sweep threads and graph levels")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    variants = [Variant(a.models[0], 1, cores, "all")]
    for model in a.models:
        variants.append(Variant(model, 8, cores, "all"))
        variants.append(Variant(model, 8, cores, "all", second_look=True))
        if model != a.models[0]:
            variants.append(Variant(model, 1, cores, "all"))
    if a.full:
        for model, threads, opt in itertools.product(a.models, (1, cores), ("basic", "all")):
            variants.append(Variant(model, 8, threads, opt))
    images = frames(a.images)
    detectors = {
        v.name: Detector(
            v.model,
            threads=v.threads,
            optimization=v.optimization,
            max_batch=v.batch,
            second_look=v.second_look,
        )
        for v in variants
    }
    for v in variants:  # warm-up
        ms_per_image(detectors[v.name], images[:8], v.batch)
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(a.rounds):
        for v in variants:
            samples[v.name].append(ms_per_image(detectors[v.name], images, v.batch))
    base = statistics.median(samples[variants[0].name])
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, {a.images} hard-hat "
        f"val images, median of {a.rounds} interleaved rounds"
    )
    print(f"{'variant':58s} {'ms/image':>9s} {'vs baseline':>11s}")
    rows = []
    for v in variants:
        ms = statistics.median(samples[v.name])
        rows.append(
            {"variant": v.name, "ms_per_image": round(ms, 2), "speedup": round(base / ms, 2)}
        )
        print(f"{v.name:58s} {ms:9.1f} {base / ms:10.2f}x")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

"""What the second, high-resolution look at people adds: ``python -m bench.second_look``.

Cigarette AP50 with the second look off and on, side by side in one run, on
1. ``../shared/datasets/cigarette`` val as it is (mostly close-ups), and
2. the same images shrunk into a 1920x1080 CCTV-like frame (people small, as on site
   cameras), built under ``build/bench_small_people`` at run time from ``../shared``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.far_set import far_set
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.tools.evaluate import AP_CONF, evaluate

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))
CANVAS = (1920, 1080)


def small_people_set(out: Path, scale: float, seed: int = 0) -> Path:
    """Paste each cigarette val image at ``scale`` of the canvas height into a blurred frame."""
    return far_set("cigarette", out, scale, CANVAS, seed)


def cigarette_row(model: Path, dataset: Path, second_look: bool) -> dict[str, float]:
    det = Detector(model, conf=AP_CONF, second_look=second_look)
    report = evaluate(det, dataset, "val")
    score = next(s for s in report.labels if s.label == "cigarette")
    return {
        "ap50": round(score.ap50, 3),
        "precision": round(score.precision, 3),
        "recall": round(score.recall, 3),
        "ms_per_image": round(report.ms_per_image, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument(
        "--scale",
        type=float,
        default=0.3,
        help="pasted image height as a share of the 1080-px canvas",
    )
    a = ap.parse_args()
    small = small_people_set(ROOT / "build" / f"bench_small_people_{a.scale}", a.scale)
    results = {}
    for name, data in (
        ("cigarette val", SHARED / "datasets" / "cigarette"),
        (f"small people (x{a.scale} in 1920x1080)", small),
    ):
        for look in (False, True):
            row = cigarette_row(a.model, data, look)
            results[f"{name}, second look {'on' if look else 'off'}"] = row
            print(
                f"{name:38s} second look {'on ' if look else 'off'}  AP50 {row['ap50']:.3f}  "
                f"P {row['precision']:.3f}  R {row['recall']:.3f}  "
                f"{row['ms_per_image']:.1f} ms/image"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()

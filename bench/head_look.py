"""Head states on the realistic set: input size and head look, accuracy against cost.

    python -m bench.head_look [--model M] [--variants 416,416+look,640] [--parts ...]

For each variant (a model input side, ``+look`` for the head look with crops enlarged up
to 1x, ``+look2`` up to 2x, ``/f`` for ``other_state`` f, ``@n`` for n crops per frame,
``%s`` for head crops at input s; ``cli``: ``sitewatch detect``'s defaults) and each part
of the realistic set (``bench/realistic_set.py``) and the photos of ``neuhardhat`` /
``hardhat`` val: AP50 helmet / head, and at the alert threshold (``--conf``, 0.3) bare-head
recall, bare heads called helmet, hard hats called bare head, and ms per image (batch 8,
decoding excluded). One line of JSON per variant and part, then a table; results in
bench/RESULTS.md, "Head look".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.realistic_set import PARTS, ROOT, SHARED, build
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.tools.cli import LARGE_INPUT, MAX_CROPS
from sitewatch.tools.evaluate import AP_CONF, evaluate


def detector(model: Path, variant: str, threads: int | None = None) -> Detector:
    """``416``, ``640+look``, ``1024+look2/0.5@32``: input side, head look (max upscale),
    weaker state's factor, crops per frame."""
    if variant.startswith("cli"):  # sitewatch detect's and eval's defaults (and a factor)
        factor = variant.partition("/")[2]
        return Detector(
            model,
            conf=AP_CONF,
            max_crops=MAX_CROPS,
            large_input=LARGE_INPUT,
            threads=threads,
            **({"other_state": float(factor)} if factor else {}),
        )
    variant, _, crop_size = variant.partition("%")
    variant, _, crops = variant.partition("@")
    spec, _, factor = variant.partition("/")
    size, _, look = spec.partition("+")
    return Detector(
        model,
        conf=AP_CONF,
        input_size=int(size),
        head_look=bool(look),
        max_upscale=float(look.removeprefix("look") or 1) if look else 1.0,
        other_state=float(factor) if factor else 1.0,
        threads=threads,
        max_crops=int(crops or 8),
        head_crop_size=int(crop_size) if crop_size else None,
    )


def row(
    model: Path, variant: str, part: str, folder: Path, conf: float, threads: int | None
) -> dict[str, Any]:
    report = evaluate(detector(model, variant, threads), folder, "val", conf)
    ap = {s.label: s.ap50 for s in report.labels}
    states = {s.label: s for s in report.head_states}
    return {
        "variant": variant,
        "part": part,
        "images": report.images,
        "heads": states["head"].gt_boxes if "head" in states else 0,
        "helmets": states["helmet"].gt_boxes if "helmet" in states else 0,
        "ap50_helmet": round(ap.get("helmet", float("nan")), 3),
        "ap50_head": round(ap.get("head", float("nan")), 3),
        "head_recall": round(states["head"].found, 3) if "head" in states else None,
        "head_called_helmet": round(states["head"].called_other_share, 3)
        if "head" in states
        else None,
        "helmet_called_head": round(states["helmet"].called_other_share, 3)
        if "helmet" in states
        else None,
        "ms_per_image": round(report.ms_per_image, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--variants", default="416,416+look,640,640+look")
    ap.add_argument("--parts", default=",".join(("neuhardhat", *PARTS)))
    ap.add_argument("--conf", type=float, default=0.3, help="the alert threshold")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "realistic")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    a = ap.parse_args()
    rows = []
    for part in a.parts.split(","):
        photos = part in ("neuhardhat", "hardhat")  # a val split of web photos as it is
        folder = SHARED / "datasets" / part if photos else build(part, a.out)
        for variant in a.variants.split(","):
            r = row(a.model, variant, part, folder, a.conf, a.threads)
            print(json.dumps(r), flush=True)
            rows.append(r)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()

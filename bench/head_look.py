"""Head states on the realistic set: input size and head look, accuracy against cost.

    python -m bench.head_look [--model M] [--variants 416,416+look,640] [--parts ...]

For each variant (a model input side, ``+look`` for the head look with crops enlarged up
to 1x, ``+look2`` up to 2x, ``/f`` for ``other_state`` f, ``@n`` for n crops per frame,
``%s`` for head crops at input s, one scale; ``cli``: ``sitewatch detect``'s defaults,
``cli-fine`` the same without the fine look, ``cli-untiled`` without the tile look,
``cli-tiles<S>`` with tiles at S times the frame's resolution (``cli-tiles1``: its own),
``cli-1`` without the coarse, fine
and tile looks;
``:cls``,
``:clsf``, ``:clsr``: the head-state classifier after it, see ``detector``) and each part
of the realistic set and ``neuhardhat`` / ``hardhat`` val: AP50 helmet / head, and at the
alert threshold (``--conf``, 0.3) bare-head recall, bare heads called helmet, hard hats called
bare head, ms per image (batch 8; for a ``:cls`` variant or a ``--cache``d base variant only
what was not cached). ``--coverage``: see ``coverage``. One JSON line per variant and part,
then a table; results in bench/RESULTS.md, "Head look" and models/README.md, "Head-state
classifier".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.realistic_set import PARTS, ROOT, SHARED, build
from sitewatch.core.geometry import Image
from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detect.detector import (
    DEFAULT_MODEL,
    HEAD_SMALL_PX,
    OTHER_STATE_FACTOR,
    Detector,
)
from sitewatch.edge.detect.head_look import (
    CLASSIFY_MIN_SCORE,
    FLIP_SHARE,
    KEEP_STATE_ABOVE,
    HeadClassifier,
    classify_head_states,
    person_head_boxes,
)
from sitewatch.edge.detect.tiles import TILE_SCALE
from sitewatch.edge.detections import Detections
from sitewatch.tools.cli import FINE_SCALE, LARGE_INPUT, MAX_CROPS
from sitewatch.tools.dataset import open_dataset, read_labels
from sitewatch.tools.evaluate import AP_CONF, evaluate

MODELS = ROOT / "models"
HEAD_CLASSIFIER = MODELS / "head-state.onnx"
_CACHE: dict[tuple[str, tuple[str, ...]], list[Detections]] = {}
"""Detections of a base variant per batch of frames, shared by its ``:cls`` variants."""


class ClassifiedDetector(Detector):
    """A ``Detector`` whose detections of a batch are remembered (per base variant) and,
    with a classifier, passed through ``classify_head_states``."""

    def __init__(
        self,
        model: Path,
        base: str,
        classifier: HeadClassifier | None,
        mode: str,
        min_score: float = CLASSIFY_MIN_SCORE,
        flip: float = FLIP_SHARE,
        keep_above: float = KEEP_STATE_ABOVE,
        small_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.base = f"{Path(model).resolve()}|{base}"
        self.classifier, self.mode = classifier, mode
        self.min_score, self.flip, self.keep_above = min_score, flip, keep_above
        self.small_only = small_only

    def detect(
        self,
        frames: Sequence[Image],
        look: Sequence[bool] | None = None,
        sizes: Sequence[int | None] | None = None,
        heads: Sequence[bool] | None = None,
        coarse: Sequence[bool] | None = None,
    ) -> list[Detections]:
        key = (
            self.base,
            tuple(hashlib.blake2b(f.tobytes(), digest_size=8).hexdigest() for f in frames),
        )
        if key not in _CACHE or look or sizes or heads or coarse:
            _CACHE[key] = super().detect(frames, look, sizes, heads, coarse)
        found = _CACHE[key]
        if self.classifier is None:
            return found
        c, people, fuse = self.classifier, self.mode == "cls", self.mode != "clsr"
        return [
            classify_head_states(
                f,
                d,
                c,
                min_score=self.min_score,
                from_people=people,
                fuse=fuse,
                flip=self.flip,
                keep_above=self.keep_above,
                max_head=self.small_head(f) if self.small_only else math.inf,
            )
            for f, d in zip(frames, found, strict=True)
        ]

    def small_head(self, frame: Image) -> float:
        """Frame px of a head the whole pass saw ``HEAD_SMALL_PX`` model px tall."""
        large = self.large_hw and max(frame.shape[:2]) >= self.large_frame
        square = self.large_hw if large and self.large_hw else self.info.input_hw
        return float(HEAD_SMALL_PX / min(square[0] / frame.shape[0], square[1] / frame.shape[1]))


def detector(
    model: Path, variant: str, threads: int | None = None, classifier: Path = HEAD_CLASSIFIER
) -> Detector:
    """``416``, ``640+look``, ``1024+look2/0.5@32``: input side, head look (max upscale),
    weaker state's factor, crops per frame. Suffixes run ``classify_head_states`` on the base
    variant's detections: ``:cls`` relabels head boxes, fuses their scores and adds heads of
    people; ``:clsf`` adds none from people; ``:clsr`` only relabels; a number after it is the
    least score classified, ``~x`` the flip share, ``^k`` the score from which the detector's
    state stays (``:clsf0.1~0.8^0.5``; defaults ``CLASSIFY_MIN_SCORE``, ``FLIP_SHARE``,
    ``KEEP_STATE_ABOVE``); an ``s`` before the number classifies only heads the whole pass
    saw smaller than ``HEAD_SMALL_PX`` model px, as the head look crops (``:clsfs0.1``)."""
    base, _, suffix = variant.partition(":")
    match = re.fullmatch(r"(cls[fr]?)(s?)([0-9.]*)~?([0-9.]*)\^?([0-9.]*)", suffix)
    if suffix and not match:
        raise ValueError(
            f"variant suffix must be :cls, :clsf or :clsr (+ a score), got {variant!r}"
        )
    mode, small, score, flip, keep = match.groups() if match else ("", "", "", "", "")
    return ClassifiedDetector(
        model,
        base,
        HeadClassifier(classifier) if mode else None,
        mode,
        float(score) if score else CLASSIFY_MIN_SCORE,
        float(flip) if flip else FLIP_SHARE,
        float(keep) if keep else KEEP_STATE_ABOVE,
        bool(small),
        **detector_args(base, threads),
    )


def detector_args(variant: str, threads: int | None) -> dict[str, Any]:
    """The ``Detector`` keyword arguments of a variant without its ``:cls`` suffix."""
    if variant.startswith("cli"):  # sitewatch detect's and eval's defaults (and a factor)
        factor = variant.partition("/")[2]
        return dict(
            conf=AP_CONF,
            max_crops=MAX_CROPS,
            large_input=LARGE_INPUT,
            threads=threads,
            coarse_look=not variant.startswith("cli-1"),
            fine_scale=None if variant.startswith(("cli-1", "cli-fine")) else FINE_SCALE,
            tile_scale=_tile_scale(variant),
            other_state=float(factor) if factor else OTHER_STATE_FACTOR,
        )
    variant, _, crop_size = variant.partition("%")
    variant, _, crops = variant.partition("@")
    spec, _, factor = variant.partition("/")
    size, _, look = spec.partition("+")
    return dict(
        conf=AP_CONF,
        input_size=int(size),
        head_look=bool(look),
        max_upscale=float(look.removeprefix("look") or 1) if look else 1.0,
        other_state=float(factor) if factor else 1.0,
        coarse_look=False,
        threads=threads,
        max_crops=int(crops or 8),
        head_crop_size=int(crop_size) if crop_size else None,
    )


def _tile_scale(variant: str) -> float | None:
    """The tile look's scale of a ``cli`` variant (None: off; ``cli-tiles<S>``: S)."""
    if variant.startswith(("cli-1", "cli-untiled")):
        return None
    if variant.startswith("cli-tiles"):
        return float(variant.removeprefix("cli-tiles").partition("/")[0])
    return TILE_SCALE


def row(
    model: Path,
    variant: str,
    part: str,
    folder: Path,
    conf: float,
    threads: int | None,
    classifier: Path = HEAD_CLASSIFIER,
) -> dict[str, Any]:
    report = evaluate(detector(model, variant, threads, classifier), folder, "val", conf)
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


def coverage(det: Detector, folder: Path, min_score: float = 0.25) -> dict[str, Any]:
    """How many labelled heads the person detector reaches (a person box >= ``min_score``
    holding the head's centre; its estimated head box overlapping the head by IoU >= 0.3), and
    how many a head/helmet box >= ``min_score`` finds (IoU >= 0.5)."""
    data = open_dataset(folder, "val")
    n = in_person = estimated = found = 0
    for start in range(0, len(data.images), det.max_batch):
        paths = data.images[start : start + det.max_batch]
        frames = [_image(p) for p in paths]
        for path, frame, dets in zip(paths, frames, det.detect(frames), strict=True):
            ids, boxes = read_labels(data.label_file(path), frame.shape[1], frame.shape[0])
            heads = boxes[np.isin(ids, (0, 1))]  # helmet, head in every set used here
            if len(heads) == 0:
                continue
            n += len(heads)
            strong = dets[dets.scores >= min_score]
            people = strong.with_label("person").xyxy
            states = strong.with_label("helmet", "head").xyxy
            cx, cy = (heads[:, 0] + heads[:, 2]) / 2, (heads[:, 1] + heads[:, 3]) / 2
            if len(people):
                inside = (
                    (cx[:, None] >= people[None, :, 0]) & (cx[:, None] <= people[None, :, 2])
                    & (cy[:, None] >= people[None, :, 1]) & (cy[:, None] <= people[None, :, 3])
                )  # fmt: skip
                in_person += int(inside.any(axis=1).sum())
                est = person_head_boxes(people)
                estimated += int((box_iou(heads, est).max(axis=1) >= 0.3).sum())
            if len(states):
                found += int((box_iou(heads, states).max(axis=1) >= 0.5).sum())
    return {
        "heads_labelled": n,
        "in_person_box": _share(in_person, n),
        "person_estimate_iou30": _share(estimated, n),
        "head_box_iou50": _share(found, n),
    }


def _share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def _image(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}: expected a JPEG/PNG file")
    return image.astype(np.uint8)


def classifier_ms(classifier: Path, crops: int = 256) -> float:
    """ms per crop of the head-state classifier, one thread, batches of 8 (random frame)."""
    c = HeadClassifier(classifier)
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    boxes = np.tile(np.asarray([[600, 300, 640, 340]], dtype=np.float32), (8, 1))
    c.classify(frame, boxes)
    began = time.perf_counter()
    for _ in range(crops // 8):
        c.classify(frame, boxes)
    return round((time.perf_counter() - began) * 1000 / crops, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--variants", default="416,416+look,640,640+look")
    ap.add_argument("--parts", default=",".join(("neuhardhat", *PARTS)))
    ap.add_argument("--conf", type=float, default=0.3, help="the alert threshold")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "realistic")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    ap.add_argument("--classifier", type=Path, default=HEAD_CLASSIFIER)
    ap.add_argument("--coverage", action="store_true", help="person/head coverage per part")
    ap.add_argument(
        "--cache", type=Path, help="pickle of base variants' detections, read and updated"
    )
    a = ap.parse_args()
    if a.cache and a.cache.is_file():
        _CACHE.update(pickle.loads(a.cache.read_bytes()))
    if any(":" in v for v in a.variants.split(",")):
        print(json.dumps({"classifier_ms_per_crop": classifier_ms(a.classifier)}), flush=True)
    rows = []
    for part in a.parts.split(","):
        photos = part in ("neuhardhat", "hardhat")  # a val split of web photos as it is
        folder = SHARED / "datasets" / part if photos else build(part, a.out)
        for variant in a.variants.split(","):
            r = row(a.model, variant, part, folder, a.conf, a.threads, a.classifier)
            print(json.dumps(r), flush=True)
            rows.append(r)
            if a.cache:
                a.cache.write_bytes(pickle.dumps(_CACHE))
        if a.coverage:
            base = a.variants.split(",")[0].partition(":")[0]
            cov = coverage(detector(a.model, base, a.threads), folder)
            print(json.dumps({"part": part, "variant": base} | cov), flush=True)
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()

"""The tile look on real 1080p frames with the real model: it finds bare heads that the whole
pass at 640 misses, and leaves frames under ``LARGE_FRAME`` alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detect.detector import LARGE_FRAME, Detector
from sitewatch.edge.detections import Detections
from sitewatch.tools.dataset import read_labels

CROWDED = 6
"""Frames of ``wide1080`` taken: those with the most labelled bare heads (chosen by the labels
alone, not by what the model finds)."""


def _bare_found(dets: Detections, heads: np.ndarray) -> int:
    boxes = dets[dets.scores >= 0.3].with_label("head").xyxy
    return int((box_iou(heads, boxes) >= 0.5).any(axis=1).sum()) if len(boxes) else 0


def test_the_tile_look_finds_more_bare_heads_of_crowded_1080p_frames(
    shared: Path, model_path: Path
) -> None:
    from bench.realistic_set import ROOT, build

    folder = build("wide1080", ROOT / "build" / "realistic")  # photos pasted into 1920x1080
    labelled = []
    for path in sorted((folder / "images" / "val").iterdir()):
        ids, boxes = read_labels(folder / "labels" / "val" / f"{path.stem}.txt", 1920, 1080)
        labelled.append((-int((ids == 1).sum()), path.name, path, boxes[ids == 1]))
    chosen = sorted(labelled, key=lambda t: t[:2])[:CROWDED]
    frames = [cv2.imread(str(p)) for _, _, p, _ in chosen]
    heads = [h for *_, h in chosen]
    plain = Detector(model_path, second_look=False, head_look=False, large_input=640)
    tiled = Detector(
        model_path, second_look=False, head_look=False, large_input=640, tile_scale=1.5
    )
    without = sum(_bare_found(d, h) for d, h in zip(plain.detect(frames), heads, strict=True))
    looked = sum(_bare_found(d, h) for d, h in zip(tiled.detect(frames), heads, strict=True))
    assert sum(len(h) for h in heads) == 77
    assert looked >= without + 20, (without, looked)  # 35 -> 72 with the 7-bit C3 (2026-12-07)

    small = cv2.resize(frames[0], (LARGE_FRAME - 1, 720))  # under LARGE_FRAME: no tiles
    a, b = plain.detect([small])[0], tiled.detect([small])[0]
    assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)

"""Accuracy and speed of a detector on a YOLO-format dataset.

AP50 per label as in COCO / Ultralytics: detections matched greedily by descending score to the
unmatched ground-truth box of the same label with the highest IoU (at least 0.5); the
precision envelope is integrated over every recall point. Precision and recall are also given
at an operating threshold. The pure functions work on arrays; ``evaluate`` runs a ``Detector``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.dataset import Dataset, open_dataset, read_labels
from edge.decode import box_iou
from edge.detector import Detector

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

AP_CONF = 0.001
"""Lowest score a detector may keep for AP to cover the whole precision-recall curve."""


def match_greedy(
    pred_xyxy: FloatArray, pred_scores: FloatArray, gt_xyxy: FloatArray, iou: float = 0.5
) -> BoolArray:
    """True for each prediction (input order) that matches a ground-truth box.

    Predictions are taken best score first; each takes the still unmatched ground-truth box it
    overlaps most, if that IoU is at least ``iou``. Everything is one label of one image.
    """
    tp = np.zeros(len(pred_scores), dtype=bool)
    if len(pred_scores) == 0 or len(gt_xyxy) == 0:
        return tp
    overlaps = box_iou(pred_xyxy, gt_xyxy)
    taken = np.zeros(len(gt_xyxy), dtype=bool)
    for p in np.argsort(-pred_scores, kind="stable"):
        row = np.where(taken, -1.0, overlaps[p])
        g = int(row.argmax())
        if row[g] >= iou:
            taken[g] = True
            tp[p] = True
    return tp


def average_precision(tp: BoolArray, scores: FloatArray, n_gt: int) -> float:
    """Area under the all-point interpolated precision envelope (NaN when there is no GT)."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    hits = tp[np.argsort(-scores, kind="stable")].astype(np.float64)
    cum_tp = np.cumsum(hits)
    recall = cum_tp / n_gt
    precision = cum_tp / np.arange(1, len(hits) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def precision_recall(
    tp: BoolArray, scores: FloatArray, n_gt: int, conf: float
) -> tuple[float, float]:
    """Precision and recall of the detections scoring at least ``conf`` (NaN if undefined)."""
    kept = tp[scores >= conf]
    hits = int(kept.sum())
    precision = hits / len(kept) if len(kept) else float("nan")
    recall = hits / n_gt if n_gt else float("nan")
    return precision, recall


@dataclass(frozen=True)
class LabelScore:
    label: str
    gt_boxes: int
    ap50: float
    precision: float
    recall: float


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    split: str
    images: int
    conf: float
    labels: list[LabelScore]
    ms_per_image: float
    images_per_s: float
    batch: int
    threads: int
    second_look: bool
    multi_label: bool
    not_in_model: list[str] = field(default_factory=list)
    """Dataset labels the model does not know, so not evaluated."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    tp: list[BoolArray] = field(default_factory=list)
    scores: list[FloatArray] = field(default_factory=list)
    n_gt: int = 0


def evaluate(
    detector: Detector, dataset_dir: str | Path, split: str = "val", conf: float = 0.25
) -> EvalReport:
    """AP50 per label, precision/recall at ``conf`` and throughput of ``detector``.

    ``detector`` must keep scores down to ``AP_CONF`` (build it with ``conf=0.001``). Throughput
    counts only ``detect`` calls of ``detector.max_batch`` images (decoding files excluded).
    """
    if detector.conf > AP_CONF:
        raise ValueError(
            f"detector.conf is {detector.conf}; AP needs the whole precision-recall curve, "
            f"build the Detector with conf={AP_CONF} (the operating conf is a separate argument)"
        )
    data = open_dataset(dataset_dir, split)
    to_model, not_in_model = _label_map(data, detector.labels)
    evaluated = sorted(set(to_model.values()))
    tallies = {label: _Tally() for label in evaluated}
    seconds = 0.0
    for start in range(0, len(data.images), detector.max_batch):
        paths = data.images[start : start + detector.max_batch]
        frames = [_read_image(p) for p in paths]
        began = time.perf_counter()
        found = detector.detect(frames)
        seconds += time.perf_counter() - began
        for path, frame, dets in zip(paths, frames, found, strict=True):
            ids, boxes = read_labels(data.label_file(path), frame.shape[1], frame.shape[0])
            model_ids = np.asarray([to_model.get(int(i), -1) for i in ids], dtype=np.int64)
            for label in evaluated:
                pred = dets[dets.class_ids == label]
                gt = boxes[model_ids == label]
                tally = tallies[label]
                tally.tp.append(match_greedy(pred.xyxy, pred.scores, gt))
                tally.scores.append(pred.scores)
                tally.n_gt += len(gt)
    scores = []
    for label, tally in sorted(tallies.items()):
        tp, sc = np.concatenate(tally.tp), np.concatenate(tally.scores)
        p, r = precision_recall(tp, sc, tally.n_gt, conf)
        ap = average_precision(tp, sc, tally.n_gt)
        scores.append(LabelScore(detector.labels[label], tally.n_gt, ap, p, r))
    n = len(data.images)
    return EvalReport(
        dataset=str(dataset_dir),
        split=split,
        images=n,
        conf=conf,
        labels=scores,
        ms_per_image=1000 * seconds / n,
        images_per_s=n / seconds if seconds else float("nan"),
        batch=detector.max_batch,
        threads=detector.threads,
        second_look=detector.second_look,
        multi_label=detector.multi_label,
        not_in_model=not_in_model,
    )


def _label_map(data: Dataset, model_labels: tuple[str, ...]) -> tuple[dict[int, int], list[str]]:
    """Dataset class id -> model class id for the labels the dataset labels, and the rest.

    Matched by name with ``data.yaml``; without it the class ids found in the label files are
    taken as model class ids.
    """
    names = data.names
    if names is None:
        names = {
            i: model_labels[i] if i < len(model_labels) else f"class {i}"
            for i in _class_ids_used(data)
        }
    mapping = {i: model_labels.index(n) for i, n in names.items() if n in model_labels}
    missing = [n for n in names.values() if n not in model_labels]
    return mapping, missing


def _class_ids_used(data: Dataset) -> set[int]:
    used: set[int] = set()
    for image in data.images:
        ids, _ = read_labels(data.label_file(image), 1, 1)
        used.update(int(i) for i in ids)
    return used


def _read_image(path: Path) -> npt.NDArray[np.uint8]:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError(f"cannot read image {path}: not a readable image file")
    return np.asarray(frame, dtype=np.uint8)

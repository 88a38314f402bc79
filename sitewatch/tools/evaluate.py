"""Accuracy and speed of a detector on a YOLO-format dataset.

AP50 per label as in COCO / Ultralytics: detections matched greedily by descending score to the
unmatched ground-truth box of the same label with the highest IoU (at least 0.5); the
precision envelope is integrated over every recall point. At an operating threshold ``conf``:
precision and recall per label, a confusion matrix across labels (plus background), and how
often one head state (helmet / bare head) is called the other. The pure functions work on
arrays of one image; ``evaluate`` runs a ``Detector`` over a dataset and sums them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.core.geometry import BoolArray, FloatArray, IntArray
from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detect.detector import Detector
from sitewatch.tools.dataset import Dataset, open_dataset, read_labels

AP_CONF = 0.001
"""Lowest score a detector may keep for AP to cover the whole precision-recall curve."""

MATCH_IOU = 0.5
"""IoU at which a detection counts as finding a ground-truth box (AP50, confusions)."""

HEAD_STATES = (("head", "helmet"), ("helmet", "head"))
"""(ground-truth state, the state it can be mistaken for): a bare head called a hard hat hides
a violation, a hard hat called a bare head raises a false alert."""

BACKGROUND, MISSED = "background", "missed"
"""The confusion matrix's extra row (detections on no object) and column (objects not found)."""

CURVE_POINTS = 101
"""Recall points (0, 0.01, ... 1) at which a precision-recall curve is kept, as in COCO."""

Progress = Callable[[int, int, float], None]
"""Called after each batch with (images done, images in all, seconds spent in ``detect``)."""


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


def precision_envelope(
    tp: BoolArray, scores: FloatArray, n_gt: int, points: int = CURVE_POINTS
) -> FloatArray:
    """Interpolated precision at ``points`` recalls evenly spaced over 0..1 (COCO style).

    Each value is the best precision reached at that recall or beyond, 0 past the highest
    recall reached; the area under it approximates ``average_precision``. NaN without GT.
    """
    if n_gt == 0:
        return np.full(points, np.nan, dtype=np.float32)
    hits = tp[np.argsort(-scores, kind="stable")].astype(np.float64)
    cum_tp = np.cumsum(hits)
    recall = cum_tp / n_gt
    precision = np.flip(np.maximum.accumulate(np.flip(cum_tp / np.arange(1, len(hits) + 1))))
    at = np.searchsorted(recall, np.linspace(0.0, 1.0, points), side="left")
    padded = np.concatenate([precision, [0.0]])
    return padded[at].astype(np.float32)


def confusion_matrix(
    gt_ids: IntArray,
    gt_xyxy: FloatArray,
    pred_ids: IntArray,
    pred_xyxy: FloatArray,
    pred_scores: FloatArray,
    n_labels: int,
    conf: float,
    iou: float = MATCH_IOU,
) -> IntArray:
    """Ground truth (rows) against prediction (columns) for one image, as counts.

    ``(n_labels + 1, n_labels + 1)`` int64: row ``n_labels`` is background (detections that
    found no object), column ``n_labels`` is missed (objects no detection found). Only
    detections scoring at least ``conf`` count. Boxes are paired one to one whatever their
    labels, highest IoU first, never below ``iou``: each ground-truth box takes the detection
    overlapping it most that no better-overlapping box took (Ultralytics' ConfusionMatrix), so
    a second detection on one object is background. Invariants: row ``g`` sums to the GT boxes
    of label ``g``, column ``p`` to the detections of label ``p``; the corner is 0.
    """
    matrix = np.zeros((n_labels + 1, n_labels + 1), dtype=np.int64)
    keep = pred_scores >= conf
    pred_ids, pred_xyxy = pred_ids[keep], pred_xyxy[keep]
    called = np.full(len(gt_ids), n_labels, dtype=np.int64)
    paired = np.zeros(len(pred_ids), dtype=bool)
    if len(gt_ids) and len(pred_ids):
        overlaps = box_iou(gt_xyxy, pred_xyxy)
        g, p = np.nonzero(overlaps >= iou)
        order = np.argsort(-overlaps[g, p], kind="stable")
        for gi, pi in zip(g[order].tolist(), p[order].tolist(), strict=True):
            if called[gi] == n_labels and not paired[pi]:
                called[gi] = pred_ids[pi]
                paired[pi] = True
    np.add.at(matrix, (gt_ids, called), 1)
    np.add.at(matrix[n_labels], pred_ids[~paired], 1)
    return matrix


def state_calls(
    gt_xyxy: FloatArray,
    pred_ids: IntArray,
    pred_xyxy: FloatArray,
    pred_scores: FloatArray,
    own: int,
    other: int,
    conf: float,
    iou: float = MATCH_IOU,
) -> tuple[BoolArray, BoolArray]:
    """For each ground-truth box of state ``own`` (one image): called ``other``, and missed.

    Called ``other``: a detection of label ``other`` scoring at least ``conf`` overlaps the box
    with IoU >= ``iou``, whatever else overlaps it. Missed: no detection of ``own`` or ``other``
    does. Not one to one: one detection may call several boxes.
    """
    keep = pred_scores >= conf
    pred_ids, pred_xyxy = pred_ids[keep], pred_xyxy[keep]
    if len(gt_xyxy) == 0 or len(pred_ids) == 0:
        return np.zeros(len(gt_xyxy), dtype=bool), np.ones(len(gt_xyxy), dtype=bool)
    near = box_iou(gt_xyxy, pred_xyxy) >= iou
    called = (near & (pred_ids == other)).any(axis=1)
    missed = ~(near & ((pred_ids == own) | (pred_ids == other))).any(axis=1)
    return called, missed


@dataclass(frozen=True)
class LabelScore:
    """Scores of one label: AP50 over all scores, precision and recall at the report's conf."""

    label: str
    gt_boxes: int
    ap50: float
    precision: float
    recall: float


@dataclass(frozen=True)
class Confusions:
    """Ground truth (``rows``: labels, then background) against prediction (``columns``:
    labels, then missed), counted at ``conf`` with pairs at IoU >= ``iou`` (see
    ``confusion_matrix``); ``counts[row][column]`` boxes."""

    rows: list[str]
    columns: list[str]
    counts: list[list[int]]
    conf: float
    iou: float = MATCH_IOU


@dataclass(frozen=True)
class StateConfusion:
    """How ground-truth boxes of one head state fare at the report's conf (IoU >= 0.5).

    ``found`` is the recall of ``label`` (as in ``LabelScore``); ``called_other`` counts the
    boxes that a detection of ``other`` overlaps, ``missed`` those that no detection of either
    state overlaps. A box can be both found and called the other (two detections on it), so
    the shares need not add up. Shares are of ``gt_boxes`` (NaN when there are none).
    """

    label: str
    other: str
    gt_boxes: int
    found: float
    called_other: int
    called_other_share: float
    missed: int
    missed_share: float


@dataclass(frozen=True)
class PRCurve:
    """Interpolated precision of ``label`` at ``CURVE_POINTS`` recalls evenly spaced over 0..1
    (see ``precision_envelope``); precision NaN throughout when the label has no GT box."""

    label: str
    recall: list[float]
    precision: list[float]


@dataclass(frozen=True)
class EvalReport:
    """Everything ``evaluate`` measured; ``to_dict`` is the ``sitewatch eval --json`` record.

    ``labels`` and ``pr_curves`` hold one entry per evaluated label (dataset labels the model
    knows), in model order; ``head_states`` one per state of ``HEAD_STATES`` when the dataset
    labels both states, else none. Times in ms and s of ``detect`` calls only.
    """

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
    head_look: bool
    coarse_look: bool
    fine_scale: float | None
    other_state: float
    multi_label: bool
    confusions: Confusions
    head_states: list[StateConfusion]
    pr_curves: list[PRCurve]
    not_in_model: list[str] = field(default_factory=list)
    """Dataset labels the model does not know, so not evaluated."""
    tile_scale: float | None = None
    """The tile look's scale (``Detector.tile_scale``; None: off)."""
    tile_cue: float | None = None
    """The tile look's cue score (``Detector.tile_cue``; None: every tile)."""
    tiles_per_image: float = 0.0
    """Tiles the tile look ran, per image (the work it took)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    tp: list[BoolArray] = field(default_factory=list)
    scores: list[FloatArray] = field(default_factory=list)
    n_gt: int = 0


@dataclass
class _Totals:
    """Running sums over images; labels are positions in ``names`` (the evaluated labels)."""

    names: list[str]
    conf: float
    tallies: list[_Tally] = field(init=False)
    matrix: IntArray = field(init=False)
    states: dict[tuple[int, int], list[int]] = field(init=False)
    """(own, other) -> [GT boxes, called other, missed], for the head states the data labels."""

    def __post_init__(self) -> None:
        n = len(self.names)
        self.tallies = [_Tally() for _ in range(n)]
        self.matrix = np.zeros((n + 1, n + 1), dtype=np.int64)
        self.states = {
            (self.names.index(own), self.names.index(other)): [0, 0, 0]
            for own, other in HEAD_STATES
            if own in self.names and other in self.names
        }

    def add(
        self, gt_ids: IntArray, gt_xyxy: FloatArray, ids: IntArray, xyxy: FloatArray, sc: FloatArray
    ) -> None:
        """One image: ground truth and detections, both with label positions (no others)."""
        for label, tally in enumerate(self.tallies):
            mine, gt = ids == label, gt_xyxy[gt_ids == label]
            tally.tp.append(match_greedy(xyxy[mine], sc[mine], gt))
            tally.scores.append(sc[mine])
            tally.n_gt += len(gt)
        self.matrix += confusion_matrix(gt_ids, gt_xyxy, ids, xyxy, sc, len(self.names), self.conf)
        for (own, other), counts in self.states.items():
            called, missed = state_calls(
                gt_xyxy[gt_ids == own], ids, xyxy, sc, own, other, self.conf
            )
            counts[0] += len(called)
            counts[1] += int(called.sum())
            counts[2] += int(missed.sum())

    def label_scores(self) -> tuple[list[LabelScore], list[PRCurve]]:
        scores, curves = [], []
        recall = np.linspace(0.0, 1.0, CURVE_POINTS)
        for name, tally in zip(self.names, self.tallies, strict=True):
            tp, sc = np.concatenate(tally.tp), np.concatenate(tally.scores)
            p, r = precision_recall(tp, sc, tally.n_gt, self.conf)
            ap = average_precision(tp, sc, tally.n_gt)
            scores.append(LabelScore(name, tally.n_gt, ap, p, r))
            envelope = precision_envelope(tp, sc, tally.n_gt)
            curves.append(PRCurve(name, _rounded(recall), _rounded(envelope)))
        return scores, curves

    def head_states(self, scores: list[LabelScore]) -> list[StateConfusion]:
        states = []
        for (own, other), (n_gt, called, missed) in self.states.items():
            states.append(
                StateConfusion(
                    label=self.names[own],
                    other=self.names[other],
                    gt_boxes=n_gt,
                    found=scores[own].recall,
                    called_other=called,
                    called_other_share=_share(called, n_gt),
                    missed=missed,
                    missed_share=_share(missed, n_gt),
                )
            )
        return states

    def confusions(self) -> Confusions:
        return Confusions(
            rows=[*self.names, BACKGROUND],
            columns=[*self.names, MISSED],
            counts=self.matrix.tolist(),
            conf=self.conf,
        )


def evaluate(
    detector: Detector,
    dataset_dir: str | Path,
    split: str = "val",
    conf: float = 0.25,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """AP50 per label, figures at ``conf`` (precision, recall, confusions) and throughput.

    ``detector`` must keep scores down to ``AP_CONF`` (build it with ``conf=0.001``). Throughput
    counts only ``detect`` calls of ``detector.max_batch`` images (decoding files excluded).
    ``limit`` takes only the first images, sorted by file name; ``progress`` is called after
    every batch. Detections of labels the dataset does not label count nowhere.
    """
    if detector.conf > AP_CONF:
        raise ValueError(
            f"detector.conf is {detector.conf}; AP needs the whole precision-recall curve, "
            f"build the Detector with conf={AP_CONF} (the operating conf is a separate argument)"
        )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 image (or None for all), got {limit}")
    data = open_dataset(dataset_dir, split)
    data = replace(data, images=data.images[:limit])
    to_model, not_in_model = _label_map(data, detector.labels)
    evaluated = sorted(set(to_model.values()))
    position = np.full(len(detector.labels), -1, dtype=np.int64)
    position[evaluated] = np.arange(len(evaluated))
    to_position = {i: int(position[m]) for i, m in to_model.items()}
    totals = _Totals([detector.labels[m] for m in evaluated], conf)
    seconds = 0.0
    n = len(data.images)
    tiles_before = detector.tiles_run
    for start in range(0, n, detector.max_batch):
        paths = data.images[start : start + detector.max_batch]
        frames = [_read_image(p) for p in paths]
        began = time.perf_counter()
        found = detector.detect(frames)
        seconds += time.perf_counter() - began
        for path, frame, dets in zip(paths, frames, found, strict=True):
            ids, boxes = read_labels(data.label_file(path), frame.shape[1], frame.shape[0])
            gt_ids = np.asarray([to_position.get(int(i), -1) for i in ids], dtype=np.int64)
            pred_ids = position[dets.class_ids]
            gt, pred = gt_ids >= 0, pred_ids >= 0
            totals.add(gt_ids[gt], boxes[gt], pred_ids[pred], dets.xyxy[pred], dets.scores[pred])
        if progress is not None:
            progress(start + len(paths), n, seconds)
    scores, curves = totals.label_scores()
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
        head_look=detector.head_look,
        coarse_look=detector.coarse_look,
        fine_scale=detector.fine_scale,
        tile_scale=detector.tile_scale,
        tile_cue=detector.tile_cue,
        tiles_per_image=(detector.tiles_run - tiles_before) / n,
        other_state=detector.other_state,
        multi_label=detector.multi_label,
        confusions=totals.confusions(),
        head_states=totals.head_states(scores),
        pr_curves=curves,
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


def _rounded(values: npt.NDArray[Any]) -> list[float]:
    return [round(float(v), 4) for v in values]


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")

"""Head states from the second looks, and one state per head.

A head is either under a hard hat (``helmet``) or bare (``head``). In a wide view the whole-frame
pass sees a head a few pixels tall and often picks the wrong state (a knit cap reads as a hard
hat); the head look's crops see it at the frame's full resolution. In a close-up the head fills
a third of the frame, larger than any the model learnt, and scores low or is missed; the coarse
look sees the frame smaller. These are the pure parts: merging the crops' and the other scales'
head states into the frame's, and resolving a head reported in both states.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from sitewatch.edge.detect.decode import box_iou, nms_per_class
from sitewatch.edge.detect.model import ModelError
from sitewatch.edge.detect.second_look import HEAD_OF_HEIGHT, HEAD_OF_WIDTH
from sitewatch.edge.detections import Detections

HEAD_STATES = ("helmet", "head")
"""The two states of a head, as the model's labels name them."""
SAME_HEAD_IOU = 0.3
"""A whole-frame head box overlapping a crop's head box this much is the same head: the crop,
seen sharper, replaces it."""
BOTH_STATES_IOU = 0.5
"""Two head boxes of different states overlapping this much are one head seen both ways."""


SURE_STATE = 0.3
"""A whole-pass head box scoring at least this much (the alert threshold) keeps its state: a
box of the other state on the same head from a pass at another scale is dropped."""

CLOSER_DECIDES = 0.1
"""A head box of a closer look (a tile) scoring at least this much decides the state of a small
head it overlaps: the whole pass's box there is dropped, whatever its state and score."""

EDGE_PX = 2.0
"""A box within this many pixels of a crop's inner edge was cut by it."""


def cut_by_edge(
    xyxy: np.ndarray, crop_hw: tuple[int, int], origin: tuple[int, int], frame_hw: tuple[int, int]
) -> np.ndarray:
    """``(N,)`` True for crop boxes (crop pixels) that touch an edge of the crop lying inside
    the frame: what they show was cut off, and a crop centred elsewhere judges it whole."""
    (h, w), (x0, y0), (fh, fw) = crop_hw, origin, frame_hw
    cut = np.zeros(len(xyxy), dtype=bool)
    if x0 > 0:
        cut |= xyxy[:, 0] <= EDGE_PX
    if y0 > 0:
        cut |= xyxy[:, 1] <= EDGE_PX
    if x0 + w < fw:
        cut |= xyxy[:, 2] >= w - EDGE_PX
    if y0 + h < fh:
        cut |= xyxy[:, 3] >= h - EDGE_PX
    return cut


def head_state_ids(labels: tuple[str, ...]) -> list[int]:
    """Class ids of the head states the model knows (empty when it has neither)."""
    return [labels.index(s) for s in HEAD_STATES if s in labels]


def merge_head_states(
    frame_dets: Detections, crop_dets: list[Detections], iou: float, max_detections: int
) -> Detections:
    """Whole-frame detections with the crops' head boxes (already in frame pixels) merged in.

    Crops' head boxes are de-duplicated per state (neighbouring crops overlap); a whole-frame
    head box that one of them overlaps by ``SAME_HEAD_IOU`` is dropped for it. Other labels of
    the crops are ignored; other labels of the frame are kept as they are. Best score first,
    at most ``max_detections``.
    """
    states = head_state_ids(frame_dets.labels)
    crops = Detections.concat(
        [frame_dets[:0]] + [d[np.isin(d.class_ids, states)] for d in crop_dets]
    )
    if len(crops) == 0:
        return frame_dets
    crops = crops[nms_per_class(crops.xyxy, crops.scores, crops.class_ids, iou, max_detections)]
    is_state = np.isin(frame_dets.class_ids, states)
    seen = frame_dets[is_state]
    again = box_iou(seen.xyxy, crops.xyxy).max(axis=1) >= SAME_HEAD_IOU
    merged = Detections.concat([frame_dets[~is_state], seen[~again], crops])
    return merged[np.argsort(-merged.scores, kind="stable")[:max_detections]]


def merge_other_scale(
    frame_dets: Detections,
    other: Detections,
    scale: float,
    min_px: float,
    iou: float,
    max_detections: int,
    sure_state: float = SURE_STATE,
) -> Detections:
    """Whole-frame detections with the head boxes (frame px) of a pass at another scale added.

    ``scale`` is that pass's model px per frame px. Kept from it: head boxes at least ``min_px``
    of its model px tall that contradict no whole-pass head box of the other state scoring
    ``sure_state`` or more on the same head (IoU ``SAME_HEAD_IOU``); then NMS per state over
    both passes' head boxes (a head seen by both keeps its better-scored box); other labels
    untouched. Best score first, at most ``max_detections``.
    """
    states = head_state_ids(frame_dets.labels)
    tall = (other.xyxy[:, 3] - other.xyxy[:, 1]) * scale >= min_px
    extra = other[np.isin(other.class_ids, states) & tall]
    is_sure = frame_dets.scores >= sure_state
    sure = frame_dets[np.isin(frame_dets.class_ids, states) & is_sure]
    if len(extra) and len(sure):
        same = box_iou(extra.xyxy, sure.xyxy) >= SAME_HEAD_IOU
        contradicts = extra.class_ids[:, None] != sure.class_ids[None, :]
        extra = extra[~(same & contradicts).any(axis=1)]
    if len(extra) == 0:
        return frame_dets
    is_state = np.isin(frame_dets.class_ids, states)
    heads = Detections.concat([frame_dets[is_state], extra])
    heads = heads[nms_per_class(heads.xyxy, heads.scores, heads.class_ids, iou, max_detections)]
    merged = Detections.concat([frame_dets[~is_state], heads])
    return merged[np.argsort(-merged.scores, kind="stable")[:max_detections]]


def defer_to_closer(
    frame_dets: Detections, closer: Detections, frame_scale: float, small_px: float
) -> Detections:
    """``frame_dets`` without the head boxes it saw smaller than ``small_px`` model px
    (``frame_scale`` model px per frame px) that a ``closer`` head box (frame px) scoring
    ``CLOSER_DECIDES`` or more overlaps by ``SAME_HEAD_IOU``: there the closer look's state
    stands alone. Order kept."""
    states = head_state_ids(frame_dets.labels)
    tall = (frame_dets.xyxy[:, 3] - frame_dets.xyxy[:, 1]) * frame_scale
    small = np.isin(frame_dets.class_ids, states) & (tall < small_px)
    seen = closer[np.isin(closer.class_ids, states) & (closer.scores >= CLOSER_DECIDES)]
    if not small.any() or len(seen) == 0:
        return frame_dets
    again = (box_iou(frame_dets.xyxy, seen.xyxy) >= SAME_HEAD_IOU).any(axis=1)
    return frame_dets[~(small & again)]


def one_state_per_head(dets: Detections, other_factor: float) -> Detections:
    """Where a helmet box and a head box overlap by ``BOTH_STATES_IOU`` (one head, both states),
    the weaker one's score is multiplied by ``other_factor`` (0 drops it, 1 leaves both).

    The stronger state is what the product reports; the weaker one survives at a low score
    only so that precision-recall curves keep it. Order: best score first.
    """
    states = head_state_ids(dets.labels)
    if len(states) < 2 or other_factor >= 1.0:
        return dets
    helmet, head = states
    hi, bi = np.flatnonzero(dets.class_ids == helmet), np.flatnonzero(dets.class_ids == head)
    if len(hi) == 0 or len(bi) == 0:
        return dets
    scores = dets.scores.copy()
    overlap = box_iou(dets.xyxy[hi], dets.xyxy[bi]) >= BOTH_STATES_IOU
    weaker = np.zeros(len(dets), dtype=bool)
    for a, b in zip(*np.nonzero(overlap), strict=True):
        h, n = hi[a], bi[b]
        weaker[n if dets.scores[h] >= dets.scores[n] else h] = True
    scores[weaker] *= other_factor
    out = Detections(dets.xyxy, scores, dets.class_ids, dets.labels, dets.track_ids)
    out = out[scores > 0] if other_factor <= 0 else out
    return out[np.argsort(-out.scores, kind="stable")]


# --- the head-state classifier (models/README.md, "Head-state classifier") -------------------

CLASSIFIER_CLASSES = ("helmet", "head", "none")
"""The classifier's outputs, in order: the two head states and "no head here"."""
CLASSIFIER_CONTEXT = 2.0
"""A classifier crop is this many head sizes wide (the head and a margin), square."""


def head_crop_box(
    xyxy: tuple[float, float, float, float], context: float = CLASSIFIER_CONTEXT
) -> tuple[float, float, float, float]:
    """The square crop (xyxy px, may leave the frame) around a head box: centred on it,
    ``context`` times its long side."""
    x1, y1, x2, y2 = xyxy
    side = context * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def cut_square(image: np.ndarray, box: tuple[float, float, float, float], px: int) -> np.ndarray:
    """``box`` (xyxy px; what lies outside the image is edge-replicated) resized to ``px`` x
    ``px``: the crop the classifier sees, from the full-resolution frame."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in box)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x1, y1, x2, y2 = x1 + pad, y1 + pad, x2 + pad, y2 + pad
    crop = image[y1:y2, x1:x2]
    interp = cv2.INTER_AREA if crop.shape[0] > px else cv2.INTER_LINEAR
    return cv2.resize(crop, (px, px), interpolation=interp)


def person_head_boxes(people: np.ndarray) -> np.ndarray:
    """``(N, 4)`` xyxy head boxes estimated from person boxes: a square of the head size
    ``second_look`` estimates (the larger of 0.3 x width, height / 7), centred in x, at the
    box's top."""
    x1, y1, x2, y2 = people.T
    s = np.maximum((x2 - x1) * HEAD_OF_WIDTH, (y2 - y1) * HEAD_OF_HEIGHT)
    cx = (x1 + x2) / 2
    return np.stack([cx - s / 2, y1, cx + s / 2, y1 + s], axis=1).astype(np.float32)


class HeadClassifier:
    """Hard hat / bare head / no head, for head boxes of a BGR frame (ONNX Runtime only).

    The model takes ``(N, 3, S, S)`` float32 BGR 0-1 crops (``S`` from the file) and answers
    ``(N, 3)`` probabilities in ``CLASSIFIER_CLASSES`` order (``training/head_classifier.py``).
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        """Open ``path``; ``ModelError`` when it is missing or not a 3-class crop classifier."""
        path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own types for missing/bad files
            raise ModelError(
                f"cannot load head classifier {path}: expected an ONNX file written by "
                f"training/head_classifier.py --export; ONNX Runtime said: {exc}"
            ) from exc
        shape = self._session.get_inputs()[0].shape
        out = self._session.get_outputs()[0].shape
        if len(shape) != 4 or not isinstance(shape[2], int) or out[-1] != 3:
            raise ModelError(
                f"head classifier {path} has input {shape} and output {out}: expected "
                "(N, 3, S, S) crops in and (N, 3) probabilities out"
            )
        self.crop_px: int = shape[2]
        self._input = self._session.get_inputs()[0].name

    def classify(self, frame: np.ndarray, heads: np.ndarray) -> np.ndarray:
        """``(N, 3)`` float32 probabilities (helmet, head, none) for ``(N, 4)`` xyxy head boxes
        (frame px) of ``frame``; ``(0, 3)`` for none."""
        if len(heads) == 0:
            return np.zeros((0, 3), dtype=np.float32)
        crops = np.stack(
            [cut_square(frame, head_crop_box(tuple(b)), self.crop_px) for b in heads.tolist()]
        )
        x = crops.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        probs: np.ndarray = self._session.run(None, {self._input: x})[0]
        return probs.astype(np.float32)


CLASSIFY_MIN_SCORE = 0.25
"""People and head boxes scoring at least this are classified."""
KEEP_STATE_ABOVE = 1.0
"""Head boxes the detector scored at least this keep its state (1: the classifier decides all)."""
FLIP_SHARE = 0.5
"""The classifier changes a head box's state when it prefers the other one by more than this
share of the two states' probability (0.5: whichever it prefers)."""
PERSON_HEAD_NONE = 0.5
"""A person's estimated head is added only when the classifier's "none" is below this."""


def classify_head_states(
    frame: np.ndarray,
    dets: Detections,
    classifier: HeadClassifier,
    *,
    min_score: float = CLASSIFY_MIN_SCORE,
    iou: float = 0.45,
    from_people: bool = True,
    fuse: bool = True,
    flip: float = FLIP_SHARE,
    keep_above: float = KEEP_STATE_ABOVE,
    max_head: float = math.inf,
) -> Detections:
    """Detections whose head states the classifier decides.

    Every ``helmet``/``head`` box scoring at least ``min_score`` takes the state the classifier
    prefers by more than ``flip`` of the two states' probability (else, or when it calls the
    box "none", or the detector scored it at least ``keep_above``, the detector's state
    stays); with ``fuse`` its score becomes sqrt(score x p(its final state)), else it is kept.
    Boxes with a side over ``max_head`` px are left as they are (the whole pass saw them well).
    Every ``person`` scoring at least ``min_score`` whose estimated head box
    (:func:`person_head_boxes`) no head box overlaps gets one, in the preferred state, when
    the classifier sees a head there ("none" below ``PERSON_HEAD_NONE``), scored person score
    x (1 - none) (``from_people`` False: none added). Head boxes are then de-duplicated per
    state (NMS at ``iou``); best first.
    """
    states = head_state_ids(dets.labels)
    if len(states) != 2:
        return dets
    helmet, head = states
    ids, scores = dets.class_ids.copy(), dets.scores.copy()
    sides = np.maximum(dets.xyxy[:, 2] - dets.xyxy[:, 0], dets.xyxy[:, 3] - dets.xyxy[:, 1])
    strong = np.isin(ids, states) & (dets.scores >= min_score) & (sides <= max_head)
    idx = np.flatnonzero(strong)
    if len(idx):
        p = classifier.classify(frame, dets.xyxy[idx])
        share = p[:, :2] / np.maximum(p[:, :2].sum(axis=1, keepdims=True), 1e-6)
        sure = (p[:, 2] < p[:, :2].max(axis=1)) & (share.max(axis=1) > flip)
        sure &= dets.scores[idx] < keep_above
        ids[idx[sure]] = np.where(share[sure, 1] > share[sure, 0], head, helmet)
        if fuse:  # the probability of the state the box ends in: a wrong state sinks
            p_state = np.where(ids[idx] == head, p[:, 1], p[:, 0])
            scores[idx] = np.sqrt(scores[idx] * p_state)
    parts = [Detections(dets.xyxy, scores, ids, dets.labels, dets.track_ids)]
    if from_people and "person" in dets.labels:
        people = dets[(dets.class_ids == dets.labels.index("person")) & (dets.scores >= min_score)]
        est = person_head_boxes(people.xyxy)
        heads_xyxy = dets.xyxy[strong]
        if len(est) and len(heads_xyxy):
            est_free = box_iou(est, heads_xyxy).max(axis=1) < 0.1
        else:
            est_free = np.ones(len(est), dtype=bool)
        est, people = est[est_free], people[est_free]
        if len(est):
            p = classifier.classify(frame, est)
            add = p[:, 2] < PERSON_HEAD_NONE
            cls = np.where(p[:, 1] > p[:, 0], head, helmet)[add]
            score = (people.scores * (1.0 - p[:, 2]))[add].astype(np.float32)
            parts.append(Detections(est[add], score, cls.astype(np.int64), dets.labels))
    out = Detections.concat(parts)
    keep_state = np.isin(out.class_ids, states)
    others, hs = out[~keep_state], out[keep_state]
    hs = hs[nms_per_class(hs.xyxy, hs.scores, hs.class_ids, iou, MAX_HEADS)]
    merged = Detections.concat([others, hs])
    return merged[np.argsort(-merged.scores, kind="stable")]


MAX_HEADS = 300
"""Most head boxes kept per frame after the classifier."""

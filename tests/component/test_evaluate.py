"""AP, matching, precision/recall and confusions on literal arrays; the runner on tiny real
datasets."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from sitewatch.edge.detect.detector import Detector
from sitewatch.tools.evaluate import (
    AP_CONF,
    average_precision,
    confusion_matrix,
    evaluate,
    match_greedy,
    precision_envelope,
    precision_recall,
    state_calls,
)


def _f(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _b(values: list[bool]) -> np.ndarray:
    return np.asarray(values, dtype=bool)


@pytest.mark.parametrize(
    ("tp", "scores", "n_gt", "expected"),
    [
        ([True, True, True], [0.9, 0.8, 0.7], 3, 1.0),  # perfect
        ([], [], 4, 0.0),  # no detections
        ([False, False], [0.9, 0.8], 2, 0.0),  # only false positives
        # P/R points (1, 1/3) (1/2, 1/3) (2/3, 2/3) (1/2, 2/3): envelope 1 then 2/3
        # AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
        ([True, False, True, False], [0.9, 0.8, 0.7, 0.6], 3, 5 / 9),
        # same detections given in another order: AP sorts by score itself
        ([False, True, False, True], [0.6, 0.7, 0.8, 0.9], 3, 5 / 9),
        # a false positive first: P = 0, 1/2, 2/3 at R = 0, 1/2, 1 -> 1/2 * 2/3 + 1/2 * 2/3
        ([False, True, True], [0.9, 0.8, 0.7], 2, 2 / 3),
        ([True], [0.5], 4, 0.25),  # one of four found, precision 1
    ],
)
def test_average_precision(tp: list[bool], scores: list[float], n_gt: int, expected: float) -> None:
    assert average_precision(_b(tp), _f(scores), n_gt) == pytest.approx(expected)


def test_average_precision_without_ground_truth_is_undefined() -> None:
    assert math.isnan(average_precision(_b([False]), _f([0.9]), 0))


def test_precision_recall_at_a_threshold() -> None:
    tp, scores = _b([True, False, True, False]), _f([0.9, 0.8, 0.7, 0.6])
    assert precision_recall(tp, scores, 3, 0.65) == pytest.approx((2 / 3, 2 / 3))
    assert precision_recall(tp, scores, 3, 0.85) == pytest.approx((1.0, 1 / 3))
    p, r = precision_recall(tp, scores, 3, 0.95)
    assert math.isnan(p) and r == 0.0


GT = [[0, 0, 10, 10], [20, 0, 30, 10]]


@pytest.mark.parametrize(
    ("boxes", "scores", "expected"),
    [
        ([[0, 0, 10, 10], [20, 0, 30, 10]], [0.9, 0.8], [True, True]),
        # two boxes on one object: the better score takes it, the other is a duplicate
        ([[1, 0, 10, 10], [0, 0, 10, 10]], [0.6, 0.9], [False, True]),
        # IoU 0.5 exactly counts (5x10 inside 10x10), just below does not
        ([[0, 0, 5, 10], [20, 0, 24.9, 10]], [0.9, 0.8], [True, False]),
        # a box between both objects matches the one it overlaps more
        ([[2, 0, 12, 10], [19, 0, 29, 10]], [0.9, 0.8], [True, True]),
        ([[50, 50, 60, 60]], [0.99], [False]),
        ([], [], []),
    ],
)
def test_match_greedy(boxes: list[list[float]], scores: list[float], expected: list[bool]) -> None:
    tp = match_greedy(_f(boxes).reshape(-1, 4), _f(scores), _f(GT))
    assert tp.tolist() == expected


def test_match_greedy_without_ground_truth() -> None:
    assert match_greedy(_f([[0, 0, 1, 1]]), _f([0.5]), np.zeros((0, 4), np.float32)).tolist() == [
        False
    ]


def _i(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def test_precision_envelope_at_fixed_recalls() -> None:
    # the 5/9 case above: envelope 1 up to recall 1/3, 2/3 up to 2/3, then nothing found
    curve = precision_envelope(_b([True, False, True, False]), _f([0.9, 0.8, 0.7, 0.6]), 3, 7)
    # recalls 0, 1/6, 1/3, 1/2, 2/3, 5/6, 1
    assert curve.tolist() == pytest.approx([1.0, 1.0, 1.0, 2 / 3, 2 / 3, 0.0, 0.0])
    assert precision_envelope(_b([]), _f([]), 2, 3).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(precision_envelope(_b([True]), _f([0.9]), 0, 3)).all()


# Confusions: labels 0 helmet, 1 head; matrix rows helmet, head, background and columns helmet,
# head, missed. Boxes in pixels; one ground-truth box HEAD at (0, 0, 10, 10) unless given.
HELMET, HEAD, OTHER = 0, 1, 2  # OTHER: the background row / missed column with two labels
HEAD_BOX = [0, 0, 10, 10]
NEAR = [0, 0, 9, 10]  # IoU 0.9 with HEAD_BOX
HALF = [0, 0, 5, 10]  # IoU 0.5 exactly: counts
FAR = [50, 50, 60, 60]  # overlaps nothing


@pytest.mark.parametrize(
    ("gt", "preds", "cells"),
    [
        # a bare head called helmet: the helmet detection is its prediction
        ([(HEAD, HEAD_BOX)], [(HELMET, HEAD_BOX, 0.9)], {(HEAD, HELMET): 1}),
        # found as it is
        ([(HEAD, HEAD_BOX)], [(HEAD, NEAR, 0.9)], {(HEAD, HEAD): 1}),
        # missed: nothing there
        ([(HEAD, HEAD_BOX)], [], {(HEAD, OTHER): 1}),
        # missed: the only detection scores under conf 0.25 and counts nowhere
        ([(HEAD, HEAD_BOX)], [(HEAD, HEAD_BOX, 0.2)], {(HEAD, OTHER): 1}),
        # a detection on no object is background, the object it missed is missed
        ([(HEAD, HEAD_BOX)], [(HELMET, FAR, 0.9)], {(HEAD, OTHER): 1, (OTHER, HELMET): 1}),
        # background only, no ground truth in the image
        ([], [(HEAD, FAR, 0.3), (HEAD, NEAR, 0.3)], {(OTHER, HEAD): 2}),
        # IoU 0.5 exactly pairs
        ([(HEAD, HEAD_BOX)], [(HELMET, HALF, 0.9)], {(HEAD, HELMET): 1}),
        # several detections on one box: the highest IoU is its prediction even at a lower
        # score; the others are background (each detection counts once)
        (
            [(HEAD, HEAD_BOX)],
            [(HELMET, HALF, 0.9), (HEAD, HEAD_BOX, 0.4), (HELMET, NEAR, 0.8)],
            {(HEAD, HEAD): 1, (OTHER, HELMET): 2},
        ),
        # two objects, each taken by the detection overlapping it most; the duplicate helmet on
        # the helmet is background
        (
            [(HEAD, HEAD_BOX), (HELMET, [20, 0, 30, 10])],
            [(HELMET, [20, 0, 30, 10], 0.9), (HELMET, [21, 0, 30, 10], 0.9), (HEAD, NEAR, 0.5)],
            {(HEAD, HEAD): 1, (HELMET, HELMET): 1, (OTHER, HELMET): 1},
        ),
        # one detection overlapping two objects (IoU 0.9 each) pairs with one, not both
        (
            [(HEAD, [0, 0, 10, 10]), (HEAD, [1, 0, 11, 10])],
            [(HELMET, [1, 0, 10, 10], 0.9)],
            {(HEAD, HELMET): 1, (HEAD, OTHER): 1},
        ),
    ],
)
def test_confusion_matrix(
    gt: list[tuple[int, list[float]]],
    preds: list[tuple[int, list[float], float]],
    cells: dict[tuple[int, int], int],
) -> None:
    matrix = confusion_matrix(
        _i([g[0] for g in gt]),
        _f([g[1] for g in gt]).reshape(-1, 4),
        _i([p[0] for p in preds]),
        _f([p[1] for p in preds]).reshape(-1, 4),
        _f([p[2] for p in preds]),
        n_labels=2,
        conf=0.25,
    )
    expected = np.zeros((3, 3), dtype=np.int64)
    for (row, column), count in cells.items():
        expected[row, column] = count
    assert matrix.tolist() == expected.tolist()
    # every ground-truth box once in its row, every detection >= conf once in its column
    assert matrix[:2].sum(axis=1).tolist() == [sum(g[0] == k for g in gt) for k in (0, 1)]
    kept = [p[0] for p in preds if p[2] >= 0.25]
    assert matrix[:, :2].sum(axis=0).tolist() == [kept.count(k) for k in (0, 1)]


@pytest.mark.parametrize(
    ("preds", "called", "missed"),
    [
        ([(HELMET, NEAR, 0.9)], True, False),  # called helmet
        # found and called helmet at once: both are counted
        ([(HEAD, HEAD_BOX, 0.9), (HELMET, NEAR, 0.5)], True, False),
        ([(HEAD, HEAD_BOX, 0.9)], False, False),  # found, not called helmet
        ([(HELMET, HEAD_BOX, 0.2)], False, True),  # under conf 0.25: missed entirely
        ([(HELMET, [0, 0, 4.9, 10], 0.9)], False, True),  # IoU 0.49: missed entirely
        ([(2, HEAD_BOX, 0.9)], False, True),  # a third label is neither state: missed
        ([], False, True),
    ],
)
def test_state_calls_of_one_bare_head(
    preds: list[tuple[int, list[float], float]], called: bool, missed: bool
) -> None:
    got_called, got_missed = state_calls(
        _f([HEAD_BOX]),
        _i([p[0] for p in preds]),
        _f([p[1] for p in preds]).reshape(-1, 4),
        _f([p[2] for p in preds]),
        own=HEAD,
        other=HELMET,
        conf=0.25,
    )
    assert (got_called.tolist(), got_missed.tolist()) == ([called], [missed])


def test_state_calls_one_detection_may_call_several_boxes() -> None:
    heads = _f([[0, 0, 10, 10], [1, 0, 11, 10]])
    called, missed = state_calls(
        heads, _i([HELMET]), _f([[1, 0, 10, 10]]), _f([0.9]), own=HEAD, other=HELMET, conf=0.25
    )
    assert called.tolist() == [True, True] and missed.tolist() == [False, False]


HARDHAT_NAMES = {0: "helmet", 1: "head", 2: "person"}


def _tiny_dataset(source: Path, target: Path, count: int, names: dict[int, str] | None) -> None:
    """``count`` hardhat val images showing helmets and heads, labels renumbered to ``names``.

    Without ``names`` the class ids are kept and no data.yaml is written.
    """
    (target / "images" / "val").mkdir(parents=True)
    (target / "labels" / "val").mkdir(parents=True)
    to_id = {label: i for i, label in (names or HARDHAT_NAMES).items()}
    picked = 0
    for image in sorted((source / "images" / "val").glob("*.jpg")):
        rows = [
            line.split()
            for line in (source / "labels" / "val" / f"{image.stem}.txt").read_text().splitlines()
            if line.strip()
        ]
        if {"0", "1"} - {row[0] for row in rows}:
            continue  # keep images with both helmets and heads
        shutil.copy(image, target / "images" / "val" / image.name)
        lines = [" ".join([str(to_id[HARDHAT_NAMES[int(r[0])]]), *r[1:]]) for r in rows]
        (target / "labels" / "val" / f"{image.stem}.txt").write_text("\n".join(lines) + "\n")
        picked += 1
        if picked == count:
            break
    if names is not None:
        yaml_names = "".join(f"  {k}: {v}\n" for k, v in names.items())
        (target / "data.yaml").write_text(f"path: .\nval: images/val\nnames:\n{yaml_names}")


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_runner_maps_labels_by_name(model_path: Path, hardhat_val: Path, tmp_path: Path) -> None:
    detector = Detector(model_path, conf=AP_CONF, second_look=False)
    if not {"helmet", "head", "person"} <= set(detector.labels):
        pytest.skip(f"model labels {detector.labels} lack helmet/head/person")
    _tiny_dataset(hardhat_val, tmp_path / "plain", 5, HARDHAT_NAMES)
    _tiny_dataset(
        hardhat_val, tmp_path / "shuffled", 5, {0: "person", 1: "smoke", 2: "head", 3: "helmet"}
    )
    _tiny_dataset(hardhat_val, tmp_path / "no_yaml", 5, None)
    plain = evaluate(detector, tmp_path / "plain", "val", conf=0.25)
    shuffled = evaluate(detector, tmp_path / "shuffled", "val", conf=0.25)
    no_yaml = evaluate(detector, tmp_path / "no_yaml", "val", conf=0.25)

    assert plain.images == shuffled.images == no_yaml.images == 5
    assert shuffled.not_in_model == ["smoke"] and plain.not_in_model == []
    gt = {label: 0 for label in HARDHAT_NAMES.values()}
    for f in (tmp_path / "plain" / "labels" / "val").glob("*.txt"):
        for line in f.read_text().splitlines():
            gt[HARDHAT_NAMES[int(line.split()[0])]] += 1
    assert {s.label: s.gt_boxes for s in plain.labels} == gt
    # without data.yaml: only the class ids the label files use, taken as model ids
    assert {s.label for s in no_yaml.labels} == {label for label, n in gt.items() if n}
    for report in (shuffled, no_yaml):
        theirs = {s.label: s for s in report.labels}
        for mine in plain.labels:
            if mine.label in theirs:
                other = theirs[mine.label]
                assert mine.gt_boxes == other.gt_boxes
                for field in ("ap50", "precision", "recall"):
                    assert _same(getattr(mine, field), getattr(other, field)), (mine, other)
    helmet = {s.label: s for s in plain.labels}["helmet"]
    assert 0.0 < helmet.ap50 <= 1.0 and 0.0 < helmet.recall <= 1.0
    assert plain.ms_per_image > 0 and plain.batch == detector.max_batch

    # the confusion matrix: one row per ground-truth box, the same counts whatever the ids
    m = plain.confusions
    assert m.rows == [*(s.label for s in plain.labels), "background"]
    assert m.columns == [*(s.label for s in plain.labels), "missed"]
    assert [sum(row) for row in m.counts[:-1]] == [s.gt_boxes for s in plain.labels]
    assert m.counts[-1][-1] == 0
    other = shuffled.confusions
    order = [other.rows.index(r) for r in m.rows]
    assert [[other.counts[r][c] for c in order] for r in order] == m.counts
    states = {h.label: h for h in plain.head_states}
    recall = {s.label: s.recall for s in plain.labels}
    assert sorted(states) == ["head", "helmet"] and states["head"].other == "helmet"
    for h in states.values():
        assert h.gt_boxes == gt[h.label] and h.found == recall[h.label]
        assert h.called_other_share == pytest.approx(h.called_other / h.gt_boxes)
        assert 0 <= h.missed <= h.gt_boxes
    assert [c.label for c in plain.pr_curves] == [s.label for s in plain.labels]
    assert len(plain.pr_curves[0].recall) == len(plain.pr_curves[0].precision) == 101


def test_runner_takes_the_first_images_and_reports_progress(model_path: Path, shared: Path) -> None:
    """A set without both head states has no head-state figures; ``limit`` takes the first
    images by name; ``progress`` hears of every batch."""
    detector = Detector(model_path, conf=AP_CONF, second_look=False, max_batch=2)
    if "cigarette" not in detector.labels:
        pytest.skip(f"model labels {detector.labels} lack cigarette")
    calls: list[tuple[int, int]] = []
    report = evaluate(
        detector,
        shared / "datasets" / "cigarette",
        limit=3,
        progress=lambda done, total, seconds: calls.append((done, total)),
    )
    assert report.images == 3 and calls == [(2, 3), (3, 3)]
    assert report.head_states == [] and report.confusions.rows == ["cigarette", "background"]
    with pytest.raises(ValueError, match="limit must be at least 1"):
        evaluate(detector, shared / "datasets" / "cigarette", limit=0)


def test_runner_wants_a_low_conf_detector(model_path: Path, hardhat_val: Path) -> None:
    with pytest.raises(ValueError, match=r"conf=0\.001"):
        evaluate(Detector(model_path, conf=0.25), hardhat_val)


def test_runner_says_where_it_looked(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images found"):
        evaluate(Detector(model_path, conf=AP_CONF), tmp_path, "val")

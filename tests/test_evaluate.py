"""AP, matching and precision/recall on literal arrays; the runner on a tiny real dataset."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.detector import Detector
from edge.evaluate import (
    AP_CONF,
    average_precision,
    evaluate,
    match_greedy,
    precision_recall,
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


def test_runner_wants_a_low_conf_detector(model_path: Path, hardhat_val: Path) -> None:
    with pytest.raises(ValueError, match=r"conf=0\.001"):
        evaluate(Detector(model_path, conf=0.25), hardhat_val)


def test_runner_says_where_it_looked(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images found"):
        evaluate(Detector(model_path, conf=AP_CONF), tmp_path, "val")

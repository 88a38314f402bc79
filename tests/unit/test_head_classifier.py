"""Geometry of the head-state classifier's crops (edge side and training side agree)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sitewatch.edge.detect.head_look import (
    CLASSIFIER_CONTEXT,
    HeadClassifier,
    classify_head_states,
    cut_square,
    head_crop_box,
    person_head_boxes,
)
from sitewatch.edge.detect.model import ModelError
from sitewatch.edge.detections import Detections


@pytest.mark.parametrize(
    ("head", "context", "crop"),
    [
        ((10.0, 20.0, 30.0, 40.0), 2.0, (0.0, 10.0, 40.0, 50.0)),  # square head
        ((0.0, 0.0, 10.0, 20.0), 1.5, (-10.0, -5.0, 20.0, 25.0)),  # tall head: its long side
    ],
)
def test_head_crop_box_is_a_square_of_context_head_sizes(
    head: tuple[float, float, float, float],
    context: float,
    crop: tuple[float, float, float, float],
) -> None:
    assert head_crop_box(head, context) == pytest.approx(crop)


def test_crop_context_is_the_training_context() -> None:
    from training.head_crops import CONTEXT

    assert CONTEXT == CLASSIFIER_CONTEXT


def test_cut_square_pads_outside_the_frame_by_replication() -> None:
    frame = np.zeros((10, 10, 3), dtype=np.uint8)
    frame[:, :5] = 200  # left half bright
    crop = cut_square(frame, (-10.0, 0.0, 10.0, 20.0), 20)
    assert crop.shape == (20, 20, 3)
    assert crop[0, 0, 0] == 200  # replicated from the left edge
    assert crop[0, 19, 0] == 0


def test_cut_square_of_a_tiny_box_enlarges_it() -> None:
    frame = np.arange(100, dtype=np.uint8).reshape(10, 10, 1).repeat(3, axis=2)
    assert cut_square(frame, (4.0, 4.0, 6.0, 6.0), 64).shape == (64, 64, 3)


def test_person_head_boxes_sit_at_the_top_centre() -> None:
    people = np.asarray([[100, 50, 140, 330], [0, 0, 100, 70]], dtype=np.float32)
    heads = person_head_boxes(people)
    # standing person 40x280: head = max(0.3*40, 280/7) = 40; upper body 100x70: 0.3*100 = 30
    np.testing.assert_allclose(heads, [[100, 50, 140, 90], [35, 0, 65, 30]], atol=1e-4)


def test_a_missing_classifier_file_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"training/head_classifier\.py --export"):
        HeadClassifier(tmp_path / "head-state.onnx")


def test_the_committed_classifier_answers_on_crops() -> None:
    model = Path(__file__).resolve().parents[2] / "models" / "head-state.onnx"
    classifier = HeadClassifier(model)
    frame = np.full((120, 160, 3), 128, dtype=np.uint8)
    probs = classifier.classify(frame, np.asarray([[60, 20, 90, 50], [0, 0, 10, 12]], np.float32))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert classifier.classify(frame, np.zeros((0, 4), np.float32)).shape == (0, 3)


def test_a_classifier_that_may_not_flip_or_fuse_changes_nothing() -> None:
    model = Path(__file__).resolve().parents[2] / "models" / "head-state.onnx"
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    dets = Detections(
        np.asarray([[60, 20, 90, 50], [10, 10, 30, 30], [0, 0, 60, 110]], np.float32),
        np.asarray([0.9, 0.4, 0.8], np.float32),
        np.asarray([0, 1, 2], np.int64),
        labels=("helmet", "head", "person", "cigarette"),
    )
    out = classify_head_states(
        frame, dets, HeadClassifier(model), flip=1.0, fuse=False, from_people=False
    )
    best_first = np.argsort(-dets.scores)
    np.testing.assert_array_equal(out.class_ids, dets.class_ids[best_first])
    np.testing.assert_allclose(out.scores, dets.scores[best_first])

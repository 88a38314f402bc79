"""The detector on real hard-hat images with the real model: batching, accuracy, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.edge.detect.decode import MAX_DETECTIONS, box_iou
from sitewatch.edge.detect.detector import Detector, ModelError
from sitewatch.edge.detections import Detections

BATCH_IMAGES = [
    "hard_hat_workers1137.jpg",
    "hard_hat_workers1179.jpg",
    "hard_hat_workers1200.jpg",
]


def _read(path: Path) -> np.ndarray:
    frame = cv2.imread(str(path))
    assert frame is not None, f"cannot read test image {path}"
    return frame


@pytest.fixture(scope="module")
def mixed_frames(hardhat_val: Path) -> list[np.ndarray]:
    """Hard-hat val images plus resized copies: square-ish, wide, portrait, small."""
    frames = [_read(hardhat_val / "images" / "val" / name) for name in BATCH_IMAGES]
    frames.append(cv2.resize(frames[0], (832, 460)))  # wide, larger than the input
    frames.append(cv2.resize(frames[1], (240, 400)))  # portrait
    frames.append(cv2.resize(frames[2], (150, 150)))  # small
    return frames


def _assert_same(a: Detections, b: Detections, atol: float = 1e-3) -> None:
    assert a.label_names() == b.label_names()
    np.testing.assert_allclose(a.scores, b.scores, atol=atol)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=atol)


def test_batched_equals_one_by_one(detector: Detector, mixed_frames: list[np.ndarray]) -> None:
    batched = detector.detect(mixed_frames)
    assert len(batched) == len(mixed_frames)
    for frame, dets in zip(mixed_frames, batched, strict=True):
        _assert_same(dets, detector.detect([frame])[0])
        h, w = frame.shape[:2]
        assert dets.labels == detector.labels
        assert (dets.xyxy >= 0).all() and (dets.xyxy[:, [0, 2]] <= w).all()
        assert (dets.xyxy[:, [1, 3]] <= h).all()
        assert (dets.scores >= detector.conf).all() and (np.diff(dets.scores) <= 0).all()
    assert sum(len(d) for d in batched) > 0, "the model found nothing on six worker photos"


def test_frames_of_different_input_sizes_share_a_batch(
    model_path: Path, mixed_frames: list[np.ndarray]
) -> None:
    """Per-camera input sizes: each frame comes out as if run alone at its own size (square
    inputs: a rectangular input depends on the other frames of its batch)."""
    det = Detector(model_path, second_look=False)
    sizes: list[int | None] = [None, 640, 320, None, 640, 320]
    mixed = det.detect(mixed_frames, sizes=sizes)
    for frame, size, dets in zip(mixed_frames, sizes, mixed, strict=True):
        alone = Detector(model_path, second_look=False, input_size=size)
        _assert_same(dets, alone.detect([frame])[0])
    default = det.detect(mixed_frames)
    assert any(
        len(a) != len(b) or not np.allclose(a.scores, b.scores)
        for a, b in zip(mixed, default, strict=True)
    ), "the sizes were ignored"
    with pytest.raises(ValueError, match="input_size 600 is not possible"):
        det.detect(mixed_frames[:1], sizes=[600])
    with pytest.raises(ValueError, match="sizes needs one value per frame"):
        det.detect(mixed_frames[:2], sizes=[640])


def test_more_frames_than_max_batch_are_chunked(
    model_path: Path, mixed_frames: list[np.ndarray]
) -> None:
    small = Detector(model_path, max_batch=4, second_look=False)
    big = Detector(model_path, max_batch=8, second_look=False)
    for a, b in zip(small.detect(mixed_frames), big.detect(mixed_frames), strict=True):
        _assert_same(a, b)


def test_low_conf_is_a_superset_and_capped(
    model_path: Path, mixed_frames: list[np.ndarray]
) -> None:
    usual = Detector(model_path, conf=0.25).detect(mixed_frames[:3])
    low = Detector(model_path, conf=0.001).detect(mixed_frames[:3])
    for u, lo in zip(usual, low, strict=True):
        assert len(lo) <= MAX_DETECTIONS
        assert len(lo) >= len(u)
        _assert_same(lo[lo.scores >= 0.25], u)


def _most_boxes(hardhat_val: Path, class_id: int) -> tuple[Path, np.ndarray]:
    """The val image whose label file has the most boxes of ``class_id`` (normalised xyxy).

    Chosen by the labels alone, not by what the model finds: a crowded, ordinary site photo.
    """
    best: tuple[int, Path, np.ndarray] | None = None
    for label_file in sorted((hardhat_val / "labels" / "val").glob("*.txt")):
        rows = [r.split() for r in label_file.read_text().splitlines() if r.strip()]
        boxes = np.array([[float(v) for v in r[1:]] for r in rows if int(r[0]) == class_id])
        if len(boxes) and (best is None or len(boxes) > best[0]):
            cx, cy, w, h = boxes.T
            best = (
                len(boxes),
                label_file,
                np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1),
            )
    assert best is not None, f"no class {class_id} box in {hardhat_val}"
    return hardhat_val / "images" / "val" / f"{best[1].stem}.jpg", best[2]


@pytest.mark.parametrize(("label", "class_id"), [("helmet", 0), ("head", 1)])
def test_finds_most_labelled_boxes_on_a_crowded_site(
    detector: Detector, hardhat_val: Path, label: str, class_id: int
) -> None:
    """Hard hats come out as ``helmet`` and bare heads as ``head``: at least 60 % of the labelled
    boxes are found with the right label (IoU > 0.5, conf 0.25) and at most 25 % are called
    the other label. A regression floor: on the whole val split recall at 0.25 is ~0.83
    (helmet) and ~0.74 (head), see models/README.md."""
    if label not in detector.labels:
        pytest.skip(f"model labels {detector.labels} have no {label!r}")
    image, norm_boxes = _most_boxes(hardhat_val, class_id)
    frame = _read(image)
    h, w = frame.shape[:2]
    gt = (norm_boxes * [w, h, w, h]).astype(np.float32)
    dets = detector.detect([frame])[0]
    found = dets.with_label(label)
    other = dets.with_label("head" if label == "helmet" else "helmet")
    hit = (box_iou(found.xyxy, gt) > 0.5).any(axis=0) if len(found) else np.zeros(len(gt), bool)
    confused = (
        (box_iou(other.xyxy, gt) > 0.5).any(axis=0) if len(other) else np.zeros(len(gt), bool)
    )
    assert hit.mean() >= 0.6, (
        f"{image.name}: found {hit.sum()} of {len(gt)} labelled {label} boxes; "
        f"detections {dets.to_records()}"
    )
    assert confused.mean() <= 0.25, f"{image.name}: {confused.sum()} {label} boxes mislabelled"


def test_second_look_changes_only_cigarettes(model_path: Path, shared: Path) -> None:
    with_look = Detector(model_path)
    if not with_look.second_look:
        pytest.skip(f"model labels {with_look.labels} have no 'cigarette': no second look")
    without = Detector(model_path, second_look=False)
    capture = cv2.VideoCapture(str(shared / "clips" / "smoking_scene_short.mp4"))
    frames = []
    for _ in range(3):
        ok, frame = capture.read()
        assert ok, "cannot read the smoking clip"
        frames.append(frame)
        for _ in range(20):
            capture.grab()
    capture.release()
    for a, b in zip(with_look.detect(frames), without.detect(frames), strict=True):
        others = [lbl for lbl in a.labels if lbl != "cigarette"]
        _assert_same(a.with_label(*others), b.with_label(*others))
        kept, plain = a.with_label("cigarette"), b.with_label("cigarette")
        for box, score in zip(plain.xyxy, plain.scores, strict=True):
            # each whole-frame cigarette is kept, or a better crop cigarette replaced it
            overlap = box_iou(box[None], kept.xyxy)[0] if len(kept) else np.zeros(0)
            assert ((overlap > 0.99) | ((overlap > with_look.iou) & (kept.scores >= score))).any()


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64, 4), np.uint8),
        np.zeros((64, 64), np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((0,), np.uint8),
        None,
    ],
    ids=["float32", "4-channels", "grey", "empty", "1-d", "none"],
)
def test_rejects_frames_that_are_not_bgr_uint8(detector: Detector, frame: object) -> None:
    good = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match=r"frame 1: expected .* uint8 .*\(H, W, 3\)"):
        detector.detect([good, frame])  # type: ignore[list-item]


def test_no_frames_no_detections(detector: Detector) -> None:
    assert detector.detect([]) == []


def test_unknown_label_threshold_is_refused(model_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown label 'dog'"):
        Detector(model_path, label_conf={"dog": 0.5})


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=f"not found: {missing}"):
        Detector(missing)


def test_garbage_model_names_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not an onnx model\xff" * 64)
    with pytest.raises(ModelError, match=f"cannot load model {garbage}"):
        Detector(garbage)


def _tiny_onnx(path: Path, names: str | None, out_channels: int) -> None:
    """A valid ONNX graph that is not a YOLOv8 detector: images -> 1x1 conv -> output0."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((out_channels, 3, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["output0"])],
        "not_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 416, 416])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if names is not None:
        helper.set_model_props(model, {"names": names, "imgsz": "[416, 416]"})
    onnx.save(model, str(path))


def test_onnx_without_yolo_metadata_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no_names.onnx"
    _tiny_onnx(path, None, 8)
    with pytest.raises(ModelError, match=rf"model {path} is not .*metadata names"):
        Detector(path)


def test_onnx_with_the_wrong_output_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wrong_output.onnx"
    _tiny_onnx(path, "{0: 'helmet', 1: 'head'}", 8)
    with pytest.raises(ModelError, match=rf"{path} .*expected output \[B, 4 \+ 2"):
        Detector(path).detect([np.zeros((32, 32, 3), np.uint8)])

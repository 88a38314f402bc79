"""The detection head split before its post-processing (training/split_head.py): the shipped
model's layout. The runtime's own decode of the candidates must give what the full graph gives."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.edge.detect.decode import anchor_grid, decode_dfl
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector, ModelError

onnx = pytest.importorskip("onnx")
from training.split_head import SplitError, split_head  # noqa: E402

FP32 = DEFAULT_MODEL.with_name("sitewatch-fp32.onnx")


@pytest.fixture(scope="module")
def split_fp32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The float reference model (full head, as Ultralytics exports it), split here."""
    out = tmp_path_factory.mktemp("split") / "split.onnx"
    onnx.save(split_head(onnx.load(str(FP32))), str(out))
    return out


def test_split_head_finds_what_the_full_head_finds(split_fp32: Path, hardhat_val: Path) -> None:
    """Same weights, full graph against split graph + decode_dfl: the same boxes (to 0.01 px)
    and scores, at a low threshold (many candidates), rectangular inputs, odd frame sizes."""
    paths = sorted((hardhat_val / "images" / "val").glob("*.jpg"))[:6]
    frames: list[np.ndarray] = [_read(p) for p in paths]
    frames += [cv2.resize(frames[0], (640, 360)), cv2.resize(frames[1], (300, 500))]
    full = Detector(FP32, conf=0.05, threads=1, rect=True)
    split = Detector(split_fp32, conf=0.05, threads=1, rect=True)
    assert full.info.strides is None and split.info.strides == (8, 16, 32)
    found = 0
    for a, b in zip(full.detect(frames), split.detect(frames), strict=True):
        assert a.label_names() == b.label_names()
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.01)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        found += len(a)
    assert found > 50, f"only {found} boxes at conf 0.05: the comparison would prove little"


def _read(path: Path) -> np.ndarray:
    frame = cv2.imread(str(path))
    assert frame is not None, f"cannot read test image {path}"
    return np.asarray(frame, dtype=np.uint8)


def test_the_shipped_model_is_split() -> None:
    detector = Detector(DEFAULT_MODEL, threads=1)
    assert detector.info.output_names == ("box_dist", "class_logits")
    assert detector.info.strides == (8, 16, 32)


def test_decode_dfl_on_a_known_distribution() -> None:
    """One anchor of the 8x8 input's stride-8 level at cell (0, 0), centre (4, 4) px: each side's
    bins put all weight on bin 1, 2, 3, 4 (left, top, right, bottom) -> box (-4, -12, 28, 36)."""
    grid = anchor_grid((32, 32), (8, 16, 32))
    assert grid[0].shape == (16 + 4 + 1, 2)
    count, reg = grid[0].shape[0], 16
    dist = np.full((4 * reg, count), -30.0, np.float32)
    for side, hot in enumerate((1, 2, 3, 4)):
        dist[side * reg + hot, 0] = 30.0
    logits = np.full((2, count), -10.0, np.float32)
    logits[1, 0] = 2.0
    xyxy, scores, ids = decode_dfl(dist, logits, grid, np.full(2, 0.5, np.float32))
    np.testing.assert_allclose(xyxy, [[4 - 8, 4 - 16, 4 + 24, 4 + 32]], atol=1e-4)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)
    assert ids.tolist() == [1]


def test_decode_dfl_refuses_a_grid_that_does_not_match() -> None:
    grid = anchor_grid((64, 64), (8, 16, 32))
    with pytest.raises(ValueError, match="wrong input size or strides"):
        decode_dfl(np.zeros((64, 10), np.float32), np.zeros((2, 10), np.float32), grid,
                   np.full(2, 0.5, np.float32))  # fmt: skip


def test_split_metadata_with_other_outputs_names_the_file(tmp_path: Path) -> None:
    model = onnx.load(str(FP32))
    onnx.helper.set_model_props(
        model, {**{p.key: p.value for p in model.metadata_props}, "dfl_strides": "[8, 16, 32]"}
    )
    path = tmp_path / "claims_split.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=rf"{path} .*expected outputs \('box_dist'"):
        Detector(path)


def test_split_head_refuses_a_graph_without_a_yolo_head() -> None:
    model = onnx.load(str(FP32))
    model.graph.node.remove(next(n for n in model.graph.node if n.name.endswith("/dfl/Reshape")))
    with pytest.raises(SplitError, match="dfl/Reshape"):
        split_head(model)

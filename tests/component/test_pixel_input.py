"""The shipped INT8 model takes the letterbox canvas as it is (training/pixel_input.py): uint8
BGR [B, H, W, 3], no float conversion. Its outputs must be exactly those of the float input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector, ModelError
from sitewatch.edge.detect.letterbox import letterbox_batch, letterbox_canvas

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

from training.pixel_input import PixelInputError, pixel_input  # noqa: E402

FP32 = DEFAULT_MODEL.with_name("sitewatch-fp32.onnx")


def _float_input(pixels: onnx.ModelProto) -> onnx.ModelProto:
    """The shipped model as training/quantize.py made it before pixel_input: float RGB NCHW in,
    quantised by a QuantizeLinear (scale 1/255), first convolution's weights in RGB order."""
    model = onnx.ModelProto()
    model.CopyFrom(pixels)
    graph = model.graph
    transpose = next(
        n for n in graph.node if n.op_type == "Transpose" and graph.input[0].name in n.input
    )
    dq = next(n for n in graph.node if transpose.output[0] in n.input)
    quant = helper.make_node(  # with the DequantizeLinear's scale (1/255) and zero point (0)
        "QuantizeLinear", [transpose.input[0], *dq.input[1:]], list(transpose.output)
    )
    position = list(graph.node).index(transpose)
    graph.node.remove(transpose)
    graph.node.insert(position, quant)
    conv = next(n for n in graph.node if dq.output[0] in n.input)
    weights_dq = next(n for n in graph.node if n.output[0] == conv.input[1])
    weights = next(t for t in graph.initializer if t.name == weights_dq.input[0])
    array = numpy_helper.to_array(weights)
    weights.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array[:, ::-1]), weights.name))
    name = graph.input[0].name
    graph.input[0].CopyFrom(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", 3, "h", "w"])
    )
    meta = {p.key: p.value for p in model.metadata_props if p.key != "input_layout"}
    helper.set_model_props(model, meta)
    return model


@pytest.fixture(scope="module")
def shipped() -> onnx.ModelProto:
    return onnx.load(str(DEFAULT_MODEL))


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def test_the_shipped_model_takes_pixels() -> None:
    info = Detector(DEFAULT_MODEL, threads=1).info
    assert info.pixels and info.input_hw == (416, 416)


def test_pixel_input_gives_exactly_the_float_inputs_outputs(
    shipped: onnx.ModelProto, hardhat_val: Path
) -> None:
    before = _float_input(shipped)
    after = pixel_input(_float_input(shipped))
    again = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer}
    for t in shipped.graph.initializer:  # the tool's output is the shipped model
        np.testing.assert_array_equal(again[t.name], numpy_helper.to_array(t), err_msg=t.name)
    paths = sorted((hardhat_val / "images" / "val").glob("*.jpg"))[:4]
    frames = [np.asarray(cv2.imread(str(p)), np.uint8) for p in paths]
    frames.append(cv2.resize(frames[0], (640, 360)))
    floats, _ = letterbox_batch(frames, (416, 416))
    canvas, _ = letterbox_canvas(frames, (416, 416))
    expected = _session(before).run(None, {"images": floats})
    got = _session(after).run(None, {"images": canvas})
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)
    assert np.abs(expected[1]).max() > 1, "the model saw something"


def test_pixel_input_refuses_what_it_cannot_convert(shipped: onnx.ModelProto) -> None:
    with pytest.raises(PixelInputError, match="was the tool run already"):
        pixel_input(shipped)
    with pytest.raises(PixelInputError, match="QuantizeLinear"):
        pixel_input(onnx.load(str(FP32)))  # float model: nothing to take away
    model = _float_input(shipped)
    scale = next(t for t in model.graph.initializer if t.name == "images_scale")
    scale.CopyFrom(numpy_helper.from_array(np.array(1 / 128, np.float32), "images_scale"))
    with pytest.raises(PixelInputError, match="scale 1/255"):
        pixel_input(model)


@pytest.mark.parametrize(
    ("layout", "as_float", "message"),
    [
        ("rgb_planar", False, "expected metadata input_layout 'bgr_nhwc_uint8' or none"),
        (
            "bgr_nhwc_uint8",
            True,
            r"expected input uint8 \[B, H, W, 3\] \(BGR\), got tensor\(float\)",
        ),
    ],
)
def test_a_wrong_input_layout_is_named(
    shipped: onnx.ModelProto, tmp_path: Path, layout: str, as_float: bool, message: str
) -> None:
    model = _float_input(shipped) if as_float else shipped
    meta = {p.key: p.value for p in model.metadata_props}
    helper.set_model_props(model, {**meta, "input_layout": layout})
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=message):
        Detector(path, threads=1)

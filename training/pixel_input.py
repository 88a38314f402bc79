"""Let an INT8 model take the letterboxed picture as it is: ``python -m training.pixel_input A B``.

A quantised export takes float RGB ``[B, 3, H, W]`` in 0..1 and its first node quantises that
back to ``uint8`` with scale 1/255 and zero point 0, which gives exactly the pixel values. So
the runtime converted BGR bytes to RGB floats, and the model converted them back. This tool
makes the input ``uint8`` ``[B, H, W, 3]`` in BGR order, the letterbox canvas itself:

* the ``QuantizeLinear`` on the input goes; a ``Transpose`` to NCHW takes its place (ONNX
  Runtime cancels it against the channels-last layout it gives quantised convolutions);
* the first convolution's weights take their input channels in reverse order, so BGR in
  gives what RGB gave before.

The model's outputs are bit-identical (tests/component/test_pixel_input.py); the metadata says
``input_layout: bgr_nhwc_uint8``. Speed: bench/RESULTS.md, "Detector speed", "Pixel input".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from sitewatch.edge.detect.model import PIXEL_LAYOUT


class PixelInputError(Exception):
    """The model does not start the way a quantised YOLOv8 export does."""


def _first_conv_weights(model: onnx.ModelProto, quantized: str) -> onnx.TensorProto:
    """The int8 weights of the one convolution fed by ``quantized`` (through a
    DequantizeLinear)."""
    graph = model.graph
    users = [n for n in graph.node if quantized in n.input]
    dq = users[0] if len(users) == 1 and users[0].op_type == "DequantizeLinear" else None
    convs = [n for n in graph.node if dq is not None and dq.output[0] in n.input]
    if (
        dq is None
        or len(convs) != 1
        or convs[0].op_type != "Conv"
        or convs[0].input[0] != dq.output[0]
    ):
        raise PixelInputError(
            "expected the quantised input to feed one DequantizeLinear and then one Conv, got "
            + ", ".join(n.op_type for n in users + convs)
        )
    producers = {o: n for n in graph.node for o in n.output}
    weights_dq = producers.get(convs[0].input[1])
    inits = {t.name: t for t in graph.initializer}
    weights = inits.get(weights_dq.input[0]) if weights_dq is not None else None
    if weights is None or len(weights.dims) != 4 or weights.dims[1] != 3:
        raise PixelInputError("expected the first Conv to have quantised [C, 3, k, k] weights")
    return weights


def pixel_input(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` taking ``uint8`` BGR ``[B, H, W, 3]`` (see the module docstring)."""
    graph = model.graph
    if len(graph.input) != 1:
        raise PixelInputError(f"expected one input, got {len(graph.input)}")
    inp = graph.input[0]
    dims = list(inp.type.tensor_type.shape.dim)
    if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4:
        raise PixelInputError("expected a float [B, 3, H, W] input; was the tool run already?")
    quants = [n for n in graph.node if inp.name in n.input]
    if len(quants) != 1 or quants[0].op_type != "QuantizeLinear":
        raise PixelInputError(
            "expected the input to feed one QuantizeLinear (an INT8 QDQ model from "
            "training/quantize.py), got " + ", ".join(n.op_type for n in quants)
        )
    quant = quants[0]
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    scale, zero = inits.get(quant.input[1]), inits.get(quant.input[2])
    exact = scale is not None and zero is not None and zero.dtype == np.uint8
    if not exact or scale.size != 1 or zero.size != 1 or int(zero) != 0:
        raise PixelInputError(f"expected the input quantised as uint8, zero point 0; got {zero!r}")
    if not np.isclose(float(scale), 1 / 255, rtol=1e-6):
        raise PixelInputError(f"expected input scale 1/255 (pixels as they are), got {scale}")
    weights = _first_conv_weights(model, quant.output[0])
    array = numpy_helper.to_array(weights)
    weights.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array[:, ::-1]), weights.name))
    position = list(graph.node).index(quant)
    graph.node.remove(quant)
    transpose = helper.make_node(
        "Transpose", [inp.name], [quant.output[0]], name="/pixels/Transpose", perm=[0, 3, 1, 2]
    )
    graph.node.insert(position, transpose)
    shape = [d.dim_param or d.dim_value or None for d in dims]
    pixels = [shape[0], shape[2], shape[3], 3]
    inp.CopyFrom(helper.make_tensor_value_info(inp.name, onnx.TensorProto.UINT8, pixels))
    used = {i for n in graph.node for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["input_layout"] = PIXEL_LAYOUT
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="an INT8 QDQ model from training/quantize.py")
    ap.add_argument("out", type=Path, help="where to write it (may be the same file)")
    a = ap.parse_args()
    try:
        model = pixel_input(onnx.load(str(a.model)))
    except PixelInputError as exc:
        raise SystemExit(f"{a.model}: {exc}") from None
    onnx.save(model, str(a.out))
    print(f"wrote {a.out}: input uint8 [B, H, W, 3] BGR ({a.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

"""INT8 copy of the detector: ``python -m training.quantize [--model M] [--out O]``.

Static QDQ quantisation (per-channel weights, u8 activations) with ONNX Runtime, calibrated
on training images letterboxed exactly as the runtime does. The detection head's
post-processing (DFL, box decode, sigmoid, concat) stays in float: quantising it costs
accuracy and buys no speed. The result is then cut before that post-processing
(``training/split_head.py``; ``--full-head`` keeps it): the runtime decodes the few candidate
boxes itself (bench/RESULTS.md, "Detector speed", "Split head"). Last, the input becomes the
letterbox canvas as it is, uint8 BGR ``[B, H, W, 3]`` (``training/pixel_input.py``;
``--float-input`` keeps float RGB ``[B, 3, H, W]``): the outputs are bit-identical and the
runtime converts nothing.

Weights are quantised to 7 bits (``reduce_range``, metadata ``int8_weight_bits: 7``): x86 CPUs
without VNNI (AVX2, AVX-512 without VNNI) multiply uint8 by int8 into saturating 16-bit sums,
which full 8-bit weights overflow; with 7 bits every CPU computes the same exact sums
(models/README.md, "INT8 on CPUs without VNNI").
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from sitewatch.edge.detect.letterbox import letterbox_batch
from sitewatch.edge.detect.model import WEIGHT_BITS_KEY
from training.data import list_images
from training.pixel_input import pixel_input
from training.split_head import split_head

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))


METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}


class Calibration(CalibrationDataReader):
    def __init__(self, images: list[Path], size: int) -> None:
        import cv2

        self.items = iter(images)
        self.size = size
        self.cv2 = cv2

    def get_next(self) -> dict[str, np.ndarray] | None:
        path = next(self.items, None)
        if path is None:
            return None
        frame = self.cv2.imread(str(path), self.cv2.IMREAD_COLOR)
        tensor, _ = letterbox_batch([frame], (self.size, self.size))
        return {"images": tensor}


def float_only_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the Detect head after its conv branches: DFL, box decode, sigmoid, concat."""
    head = max(
        int(n.name.split("/")[1].removeprefix("model."))
        for n in model.graph.node
        if n.name.startswith("/model.")
    )
    prefix = f"/model.{head}/"
    branches = (f"{prefix}cv2", f"{prefix}cv3")  # the head's conv branches stay quantised...
    last = [f"{prefix}cv{b}.{i}/cv{b}.{i}.2/" for b in (2, 3) for i in range(3)]
    return [  # ... but for their last convolution, which makes the boxes and the scores
        n.name
        for n in model.graph.node
        if n.name.startswith(prefix)
        and (not n.name.startswith(branches) or n.name.startswith(tuple(last)))
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--images", type=int, default=200, help="calibration images")
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument(
        "--method",
        choices=["minmax", "percentile", "entropy"],
        default="minmax",
        help="activation range calibration",
    )
    ap.add_argument(
        "--full-head", action="store_true",
        help="keep the head's post-processing in the graph (one output0, as Ultralytics exports)",
    )  # fmt: skip
    ap.add_argument(
        "--float-input", action="store_true",
        help="keep the float RGB [B, 3, H, W] input rather than the uint8 BGR canvas",
    )  # fmt: skip
    a = ap.parse_args()
    out = a.out or ROOT / "models" / "sitewatch.onnx"
    pool = [
        p
        for d in ("hardhat", "neuhardhat", "cigarette")
        for p in list_images(SHARED / "datasets" / d / "images" / "train")
    ]
    random.Random(0).shuffle(pool)
    prep = out.with_suffix(".prep.onnx")
    quant_pre_process(str(a.model), str(prep), skip_symbolic_shape=True)
    exclude = float_only_nodes(onnx.load(str(prep)))
    quantize_static(
        str(prep),
        str(out),
        Calibration(pool[: a.images], a.size),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=METHODS[a.method],
        nodes_to_exclude=exclude,
        reduce_range=True,
    )
    prep.unlink()
    model = onnx.load(str(out))
    model = model if a.full_head else split_head(model)
    model = model if a.float_input else pixel_input(model)
    onnx.helper.set_model_props(
        model, {p.key: p.value for p in model.metadata_props} | {WEIGHT_BITS_KEY: "7"}
    )
    onnx.save(model, str(out))
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), {len(exclude)} head nodes kept in float"
    )


if __name__ == "__main__":
    main()

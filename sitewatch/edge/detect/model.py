"""Open an Ultralytics YOLOv8 ONNX export and check it has the layout the detector decodes.

Expected: one float input ``[B, 3, H, W]`` (RGB, 0..1), or ``uint8`` ``[B, H, W, 3]`` (BGR, the
letterbox canvas as it is) with metadata ``input_layout: bgr_nhwc_uint8``
(``training/pixel_input.py``, the shipped model); one output ``[B, 4 + nc, anchors]``
(``cx, cy, w, h`` then per-class scores, no NMS), and metadata ``names`` (class index -> label)
and ``imgsz``. Or, for a head cut before its post-processing (``training/split_head.py``, the
shipped model), two outputs ``box_dist`` ``[B, 4 * reg_max, anchors]`` and ``class_logits``
``[B, nc, anchors]`` with metadata ``dfl_strides``. Anything else is a ``ModelError`` naming the
file, what was expected and what came.
"""

from __future__ import annotations

import ast
import logging
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from sitewatch.contract.edge_warnings import EdgeWarning, edge_warning

OPTIMIZATION_LEVELS: dict[str, Any] = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
"""Names accepted for the ONNX Runtime graph optimisation level."""

_LOAD_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)
_EXPECTED = "an Ultralytics YOLOv8 detection export to ONNX (yolo export format=onnx)"
WEIGHT_BITS_KEY = "int8_weight_bits"
"""Metadata written by ``training/quantize.py``: ``7`` when its int8 weights fit in 7 bits."""
QUANTISED_KEY = "onnx.quant.pre_process"
"""Metadata ONNX Runtime's quantisation tool leaves on the models it prepared."""
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""x86 CPU flags (``/proc/cpuinfo``) of the int8 dot products that cannot saturate."""
log = logging.getLogger(__name__)


class ModelError(Exception):
    """The model file is missing, unreadable, or not a YOLOv8 detection export."""


@dataclass(frozen=True)
class ModelInfo:
    """What the detector needs to know about an opened model."""

    path: Path
    labels: tuple[str, ...]
    input_name: str
    output_names: tuple[str, ...]
    """``(output0,)``, or ``(box_dist, class_logits)`` for a split head."""
    input_hw: tuple[int, int]
    fixed_batch: int | None
    """The model's batch size when it is not dynamic."""
    dynamic_hw: bool = False
    """Whether the model accepts other input sizes than ``input_hw`` (a multiple of 32)."""
    strides: tuple[int, ...] | None = None
    """The head's levels when it is split before its post-processing; None: full output."""
    pixels: bool = False
    """The input is ``uint8`` BGR ``[B, H, W, 3]`` rather than float RGB ``[B, 3, H, W]``."""
    warnings: tuple[EdgeWarning, ...] = ()
    """What is wrong with running this model here, each saying what to do (logged when it was
    opened; the edge sends them in its status)."""


def default_threads() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def open_model(
    path: str | Path,
    threads: int | None = None,
    optimization: str = "all",
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
) -> tuple[Any, ModelInfo]:
    """An ``onnxruntime.InferenceSession`` for ``path`` and its checked ``ModelInfo``."""
    path = Path(path)
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(
            f"optimization must be one of {sorted(OPTIMIZATION_LEVELS)}, got {optimization!r}"
        )
    if not path.is_file():
        raise ModelError(
            f"model file not found: {path}; expected {_EXPECTED}. "
            "Pass the right path (--model, the config's detector.model, or the "
            "SITEWATCH_MODEL environment variable) or build the model first."
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization]
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers))
    except _LOAD_ERRORS as exc:
        raise ModelError(
            f"cannot load model {path}: expected {_EXPECTED}, but ONNX Runtime said: {exc}"
        ) from exc
    meta = session.get_modelmeta().custom_metadata_map
    info = _check_layout(path, session)
    if int8_saturates(meta, platform.machine(), cpu_flags()):
        said = edge_warning("model.int8_saturates", model=path.name)
        log.warning("%s (%s)", said.text, path)
        info = replace(info, warnings=(said,))
    return session, info


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (None where there is none to read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return None


def int8_saturates(meta: Mapping[str, str], machine: str, flags: frozenset[str] | None) -> bool:
    """Whether an ONNX Runtime-quantised model with full 8-bit weights (no
    ``int8_weight_bits: 7``) runs on an x86 CPU whose ``flags`` name no VNNI, where uint8 x
    int8 products are summed in saturating 16 bits. Unknown flags: False."""
    x86 = machine.lower() in ("x86_64", "amd64", "i686", "x86")
    quantised = QUANTISED_KEY in meta and meta.get(WEIGHT_BITS_KEY) != "7"
    return x86 and quantised and flags is not None and not flags & VNNI_FLAGS


def _check_layout(path: Path, session: Any) -> ModelInfo:
    def fail(what: str) -> ModelError:
        return ModelError(f"model {path} is not {_EXPECTED}: {what}")

    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise fail(f"expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}")
    meta = session.get_modelmeta().custom_metadata_map
    inp, pixels = inputs[0], _pixel_layout(meta.get("input_layout"), fail)
    shape = list(inp.shape) + [None] * (4 - len(inp.shape))
    channels, hw = (shape[3], shape[1:3]) if pixels else (shape[1], shape[2:4])
    kind, want = ("uint8", "[B, H, W, 3] (BGR)") if pixels else ("float", "[B, 3, H, W] (RGB)")
    if inp.type != f"tensor({kind})" or len(inp.shape) != 4 or channels not in (3, "3"):
        raise fail(f"expected input {kind} {want}, got {inp.type} {list(inp.shape)}")
    labels = _parse_names(meta.get("names"), fail)
    strides = _split_head(outputs, meta.get("dfl_strides"), len(labels), fail)
    out_shape = list(outputs[0].shape)
    if strides is None and (
        len(out_shape) != 3 or (isinstance(out_shape[1], int) and out_shape[1] != 4 + len(labels))
    ):
        raise fail(
            f"expected output [B, 4 + {len(labels)} classes = {4 + len(labels)}, anchors] "
            f"(no NMS), got {out_shape}"
        )
    names = tuple(o.name for o in outputs) if strides else (outputs[0].name,)
    dynamic_hw = not (isinstance(hw[0], int) and isinstance(hw[1], int))
    input_hw = _parse_imgsz(meta.get("imgsz"), fail) if dynamic_hw else (hw[0], hw[1])
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return ModelInfo(path, labels, inp.name, names, input_hw, fixed, dynamic_hw, strides, pixels)


def _pixel_layout(raw: str | None, fail: Any) -> bool:
    """Whether metadata ``input_layout`` says the input is the letterbox canvas (uint8 BGR)."""
    if raw is None:
        return False
    if raw != PIXEL_LAYOUT:
        raise fail(f"expected metadata input_layout {PIXEL_LAYOUT!r} or none, got {raw!r}")
    return True


SPLIT_OUTPUTS = ("box_dist", "class_logits")
PIXEL_LAYOUT = "bgr_nhwc_uint8"
"""Metadata ``input_layout`` of a model that takes the letterbox canvas as it is."""


def _literal(raw: str | None) -> Any:
    """A metadata value as the Python literal it spells (None when empty or not a literal)."""
    try:
        return ast.literal_eval(raw) if raw else None
    except (ValueError, SyntaxError):
        return None


def _split_head(outputs: list[Any], raw: str | None, nc: int, fail: Any) -> tuple[int, ...] | None:
    """The head's strides when the model is split before its post-processing, else None."""
    if raw is None:
        return None
    names = tuple(o.name for o in outputs)
    strides = _literal(raw)
    if not (isinstance(strides, list) and strides and all(isinstance(s, int) for s in strides)):
        raise fail(f"expected metadata dfl_strides like '[8, 16, 32]', got {raw!r}")
    classes = outputs[1].shape[1] if len(outputs) == 2 else None
    if names != SPLIT_OUTPUTS or (isinstance(classes, int) and classes != nc):
        raise fail(
            f"metadata dfl_strides says the head is split (training/split_head.py): expected "
            f"outputs {SPLIT_OUTPUTS}, class_logits with {nc} classes, got {names}"
        )
    return tuple(strides)


def _parse_names(raw: str | None, fail: Any) -> tuple[str, ...]:
    names = _literal(raw)
    if isinstance(names, list):
        names = dict(enumerate(names))
    ok = (
        isinstance(names, dict)
        and len(names) > 0
        and sorted(names) == list(range(len(names)))
        and all(isinstance(v, str) for v in names.values())
    )
    if not ok or not isinstance(names, dict):
        raise fail(f"expected metadata names like \"{{0: 'helmet', 1: 'head'}}\", got {raw!r}")
    return tuple(names[i] for i in range(len(names)))


def _parse_imgsz(raw: str | None, fail: Any) -> tuple[int, int]:
    size = _literal(raw)
    if isinstance(size, int):
        size = [size, size]
    if (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        return int(size[0]), int(size[1])
    raise fail(f"input size is dynamic and metadata imgsz is not like '[416, 416]': {raw!r}")

"""Cut a YOLOv8 ONNX export before its box decoding: ``python -m training.split_head IN OUT``.

An Ultralytics export ends with the Detect head's post-processing for every anchor: a softmax
over 16 bins for each box side (DFL), its expectation, the box decode and a sigmoid on every
class logit. The runtime needs boxes only for the few anchors whose score passes the
threshold, so this tool ends the graph at the head's two raw outputs instead:

* ``box_dist``: ``[B, 4 * reg_max, anchors]``, per anchor the bins of its left, top, right and
  bottom distances (side-major);
* ``class_logits``: ``[B, nc, anchors]``, before the sigmoid;

and records in the metadata ``dfl_strides`` (the head's levels, e.g. ``[8, 16, 32]``, anchors
in that order, row-major per level) and ``reg_max``. ``sitewatch.edge.detect.decode.decode_dfl``
finishes the job for the kept anchors only; the result is the same boxes and scores
(tests/unit/test_split_head.py). Speed: bench/RESULTS.md, "Detector speed", "Split head".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx
from onnx import helper

BOX_DIST, CLASS_LOGITS = "box_dist", "class_logits"
STRIDES = (8, 16, 32)


class SplitError(Exception):
    """The model does not end in an Ultralytics YOLOv8 Detect head."""


def head_inputs(model: onnx.ModelProto) -> tuple[str, str]:
    """The tensors holding the head's raw box bins and class logits, all levels concatenated."""
    nodes = model.graph.node
    dfl = [n for n in nodes if n.op_type == "Reshape" and n.name.endswith("/dfl/Reshape")]
    final = {n.output[0]: n for n in nodes}.get(model.graph.output[0].name)
    if len(dfl) != 1 or final is None or final.op_type != "Concat":
        raise SplitError("expected one /dfl/Reshape node and an output made by Concat")
    producers = {o: n for n in nodes for o in n.output}
    sigmoids = [producers.get(i) for i in final.input]
    logits = [n.input[0] for n in sigmoids if n is not None and n.op_type == "Sigmoid"]
    if len(logits) != 1:
        raise SplitError(f"expected one Sigmoid feeding the output, found {len(logits)}")
    return dfl[0].input[0], logits[0]


def split_head(model: onnx.ModelProto, reg_max: int = 16) -> onnx.ModelProto:
    """``model`` ending at ``box_dist`` and ``class_logits`` (see the module docstring)."""
    dist, logits = head_inputs(model)
    graph = model.graph
    renames = {dist: BOX_DIST, logits: CLASS_LOGITS}
    for node in graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    del graph.output[:]
    for name in (BOX_DIST, CLASS_LOGITS):
        shape = ["batch", None, "anchors"]
        graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
    # drop what no longer leads to an output (the post-processing), last node first
    needed = {BOX_DIST, CLASS_LOGITS}
    kept = []
    for node in reversed(list(graph.node)):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = {i for n in graph.node for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in used]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update(dfl_strides=str(list(STRIDES)), reg_max=str(reg_max))
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="an Ultralytics YOLOv8 detection export (ONNX)")
    ap.add_argument("out", type=Path, help="where to write the split model (may be the same)")
    a = ap.parse_args()
    model = split_head(onnx.load(str(a.model)))
    onnx.save(model, str(a.out))
    size = a.out.stat().st_size / 1e6
    print(f"wrote {a.out}: outputs {BOX_DIST}, {CLASS_LOGITS} ({size:.1f} MB)")


if __name__ == "__main__":
    main()

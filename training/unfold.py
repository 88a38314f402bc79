"""Turn the shipped float ONNX detector back into a trainable Ultralytics checkpoint.

    python -m training.unfold models/sitewatch-fp32.onnx build/weights/sitewatch_unfolded.pt

Ultralytics folds each batch norm into its convolution on export (``W' = g W / s``, ``b' = ...``),
so the ONNX file holds ``W'`` and ``b'`` under the module names of a YOLOv8 ``DetectionModel``
(``model.3.conv.weight``, ``model.3.conv.bias``, ...). This rebuilds that model, puts ``W'`` into
each convolution and gives its batch norm the statistics that make it an identity in *both*
modes: running mean and variance are the mean and variance of ``W' x`` measured on calibration
images, ``gamma`` their standard deviation and ``beta`` the mean plus ``b'``. In eval mode the
checkpoint then computes exactly what the ONNX file does (checked, ``max_abs_diff`` printed); in
training mode, batch statistics near the calibration ones normalise to the same function, so
fine-tuning starts from the shipped model rather than from a perturbed one.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import numpy as np


def unfold(onnx_path: Path, images: list[Path], out: Path, imgsz: int = 416) -> float:
    """Write ``out`` (an Ultralytics checkpoint); return the largest |difference| to the ONNX
    model's output on the first calibration batch (input pixels and class scores)."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    proto = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in proto.metadata_props}
    names: dict[int, str] = ast.literal_eval(meta["names"])
    folded = {
        i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer
    }
    model = DetectionModel("yolov8s.yaml", nc=len(names), verbose=False)
    model.names = names
    convs = {n: m for n, m in model.named_modules() if isinstance(m, Conv)}
    eps = {n: m.bn.eps for n, m in convs.items()}
    with torch.no_grad():
        for name, mod in convs.items():  # first pass: batch norm as a plain bias
            mod.conv.weight.copy_(folded[f"{name}.conv.weight"])
            bn = mod.bn
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - eps[name])
            bn.weight.fill_(1.0)
            bn.bias.copy_(folded[f"{name}.conv.bias"])
        used = {f"{n}.conv.{p}" for n in convs for p in ("weight", "bias")}
        for key, param in model.state_dict().items():  # plain convolutions (the head's last)
            if key in folded and key not in used:
                param.copy_(folded[key])
                used.add(key)
    missing = [k for k in folded if k.startswith("model.") and k not in used]
    if missing:
        raise SystemExit(f"{onnx_path}: weights with no place in YOLOv8s: {missing[:5]}")
    batch = torch.from_numpy(_letterboxed(images, imgsz))
    stats: dict[str, list[torch.Tensor]] = {n: [] for n in convs}
    hooks = [
        convs[n].conv.register_forward_hook(
            lambda _m, _i, y, n=n: stats[n].append(
                torch.stack([y.mean((0, 2, 3)), (y * y).mean((0, 2, 3))])
            )
        )
        for n in convs
    ]
    model.eval()
    with torch.no_grad():
        for i in range(0, len(batch), 8):
            model(batch[i : i + 8])
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for name, mod in convs.items():
            mean, sq = torch.stack(stats[name]).mean(0)
            var = (sq - mean * mean).clamp_min(1e-6)
            bias = mod.bn.bias.clone()
            mod.bn.running_mean.copy_(mean)
            mod.bn.running_var.copy_(var)
            mod.bn.weight.copy_(torch.sqrt(var + eps[name]))
            mod.bn.bias.copy_(bias + mean)
        ours = model(batch[:8])[0].numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: batch[:8].numpy()})[0]
    diff = float(np.abs(ours - theirs).max())
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "ema": None,
            "train_args": {"imgsz": imgsz, "task": "detect"},
            "date": meta.get("date"),
            "version": meta.get("version"),
            "source": str(onnx_path),
        },
        out,
    )
    return diff


def _letterboxed(images: list[Path], size: int) -> Any:
    """RGB 0..1 ``[N, 3, size, size]`` float32, letterboxed (grey 114) as the exporter expects."""
    import cv2

    from sitewatch.edge.detect.letterbox import letterbox_batch

    frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in images]
    tensor, _ = letterbox_batch(frames, (size, size))
    return np.ascontiguousarray(tensor, dtype=np.float32)


def main() -> None:
    from training.data import list_images
    from training.train import SHARED, offline_ultralytics

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=96, help="calibration images (hard-hat train)")
    a = ap.parse_args()
    offline_ultralytics()
    pool = list_images(SHARED / "datasets" / "neuhardhat" / "images" / "train")
    pool += list_images(SHARED / "datasets" / "cigarette" / "images" / "train")
    step = max(1, len(pool) // a.images)
    diff = unfold(a.onnx, pool[::step][: a.images], a.out)
    print(f"wrote {a.out}; max_abs_diff against {a.onnx}: {diff:.5f}")


if __name__ == "__main__":
    main()

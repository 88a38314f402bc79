"""Average two fine-tuned checkpoints into one model ("model soup"), then export it to ONNX.

    python -m training.soup build/runs/stage2/weights/best.pt \\
        build/runs/stage2_e26/weights/best.pt --out models/sitewatch-fp32.onnx

Both checkpoints must come from the same starting weights (here: two stage-2 runs of
different lengths from one stage 1; or a model and its fine-tune, "WiSE-FT", Wortsman et al.,
CVPR 2022), so their weights lie in one basin and their average is a model, usually better
than either (Wortsman et al., "Model soups", ICML 2022); what it gave SiteWatch:
models/README.md, "Recipe". Float parameters and batch-norm statistics are
averaged (``--weight`` is the second checkpoint's share); integer buffers come from the first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.train import BUILD, ROOT, export, offline_ultralytics


def soup(first: Path, second: Path, weight: float, out_pt: Path) -> Path:
    import torch

    a = torch.load(first, map_location="cpu", weights_only=False)
    b = torch.load(second, map_location="cpu", weights_only=False)
    for ckpt in (a, b):  # a checkpoint saved mid-run holds its weights as "ema" only
        ckpt["model"] = ckpt.get("model") or ckpt["ema"]
    sa, sb = a["model"].float().state_dict(), b["model"].float().state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise SystemExit(f"{first} and {second} are not the same architecture: cannot average")
    mixed = {
        k: (1 - weight) * v + weight * sb[k].to(v.dtype) if v.dtype.is_floating_point else v
        for k, v in sa.items()
    }
    a["model"].load_state_dict(mixed)
    a["ema"] = None  # the averaged model is the one to export
    out_pt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(a, out_pt)
    return out_pt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("--weight", type=float, default=0.5, help="share of the second checkpoint")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    ap.add_argument(
        "--pt", type=Path, default=BUILD / "soup" / "soup.pt", help="the soup's checkpoint"
    )
    a = ap.parse_args()
    if not 0.0 <= a.weight <= 1.0:
        raise SystemExit(f"--weight must be in 0..1, got {a.weight}")
    offline_ultralytics()
    pt = soup(a.first, a.second, a.weight, a.pt)
    export(pt, a.out)


if __name__ == "__main__":
    main()

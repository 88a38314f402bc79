"""Train the head-state classifier on CPU and export it: ``python -m training.head_classifier``.

Input: the crops of ``training/head_crops.py`` (``--crops``, default ``/root/tv-runs/crops``).
A small CNN (four stride-2 stages of 3x3 conv + BN + ReLU, a depthwise-separable pair in each
of the last three, global average pooling, one linear layer; about 0.1 M parameters) reads a
BGR ``CROP_PX`` square crop scaled to 0-1 and answers logits for ``CLASSES`` (helmet, head,
none). One torch thread (the box's cores are shared); a checkpoint per epoch under ``--runs``
(default ``/root/tv-runs/head``), so running the same command again resumes. Random horizontal
flips and brightness/contrast changes at train time. ``--export PATH`` writes the best epoch
(by validation balanced accuracy on helmet/head) to ONNX: input ``crops`` float32
``(N, 3, CROP_PX, CROP_PX)`` BGR 0-1, output ``probs`` ``(N, 3)`` softmax.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.head_crops import CLASSES, CROP_PX


def conv(c_in: int, c_out: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv, batch norm, ReLU: 3x3 for the stem, strided and depthwise convs, else 1x1."""
    k = 3 if groups > 1 or stride > 1 or c_in == 3 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class HeadNet(nn.Module):
    """64x64 crop -> 3 logits; stages at 32, 16, 8, 4 px."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [conv(3, w, 2), conv(w, w, 1, groups=w), conv(w, w)]
        for c_in, c_out in ((w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)):
            layers += [
                conv(c_in, c_in, 2, groups=c_in),
                conv(c_in, c_out),
                conv(c_out, c_out, 1, groups=c_out),
                conv(c_out, c_out),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(8 * w, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x).mean(dim=(2, 3)))
        return out


class Probs(nn.Module):
    """The exported model: softmax over the classifier's logits."""

    def __init__(self, net: HeadNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def load(crops: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC BGR crops -> uint8 NCHW tensor, int64 labels."""
    d = np.load(crops / f"{split}.npz")
    return torch.from_numpy(d["x"]).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(d["y"])


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 batch -> float 0-1 with random flips and brightness/contrast."""
    f = x.float() / 255.0
    flip = torch.rand(len(f), generator=gen) < 0.5
    f[flip] = f[flip].flip(3)
    gain = 0.7 + 0.6 * torch.rand(len(f), 1, 1, 1, generator=gen)
    bias = 0.15 * (torch.rand(len(f), 1, 1, 1, generator=gen) - 0.5)
    mean = f.mean(dim=(1, 2, 3), keepdim=True)
    return ((f - mean) * gain + mean + bias).clamp(0, 1)


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Per-class recall and balanced accuracy over helmet/head (the states that matter)."""
    net.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), 512):
            preds.append(net(x[i : i + 512].float() / 255.0).argmax(1))
    p = torch.cat(preds)
    out = {f"recall_{c}": float((p[y == k] == k).float().mean()) for k, c in enumerate(CLASSES)}
    out["helmet_called_head"] = float((p[y == 0] == 1).float().mean())
    out["head_called_helmet"] = float((p[y == 1] == 0).float().mean())
    out["balanced"] = (out["recall_helmet"] + out["recall_head"]) / 2
    return out


def train(crops: Path, runs: Path, epochs: int, batch: int, lr: float) -> None:
    """Train (or resume) up to ``epochs``, one checkpoint per epoch, a JSON line per epoch."""
    torch.set_num_threads(1)
    runs.mkdir(parents=True, exist_ok=True)
    xt, yt = load(crops, "train")
    xv, yv = load(crops, "val")
    net = HeadNet()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xt) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(0)
    start, best = 0, -1.0
    last = runs / "last.pt"
    if last.is_file():
        ck = torch.load(last, weights_only=False)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"])
        start, best = ck["epoch"] + 1, ck["best"]
    counts = torch.bincount(yt, minlength=len(CLASSES)).float()
    loss_fn = nn.CrossEntropyLoss(weight=(counts.sum() / counts / len(CLASSES)).sqrt())
    for epoch in range(start, epochs):
        net.train()
        t0, total = time.time(), 0.0
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            loss = loss_fn(net(augment(xt[idx], gen)), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        stats = evaluate(net, xv, yv)
        line = {"epoch": epoch, "loss": round(total / len(xt), 4), "s": round(time.time() - t0)}
        print(json.dumps(line | {k: round(v, 4) for k, v in stats.items()}), flush=True)
        if stats["balanced"] > best:
            best = stats["balanced"]
            torch.save(net.state_dict(), runs / "best.pt")
        state = {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
        torch.save(state | {"gen": gen.get_state(), "epoch": epoch, "best": best}, last)


def export(runs: Path, out: Path) -> None:
    """The best checkpoint to ONNX (opset 17, dynamic batch)."""
    net = HeadNet()
    net.load_state_dict(torch.load(runs / "best.pt", weights_only=True))
    model = Probs(net).eval()
    dummy = torch.zeros(1, 3, CROP_PX, CROP_PX)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        input_names=["crops"],
        output_names=["probs"],
        dynamic_axes={"crops": {0: "n"}, "probs": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crops", type=Path, default=Path("/root/tv-runs/crops"))
    ap.add_argument("--runs", type=Path, default=Path("/root/tv-runs/head"))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--export", type=Path, help="write the best epoch to this ONNX file and stop")
    a = ap.parse_args()
    if a.export:
        export(a.runs, a.export)
    else:
        train(a.crops, a.runs, a.epochs, a.batch, a.lr)


if __name__ == "__main__":
    main()

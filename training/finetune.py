"""Fine-tune the shipped detector on every hard-hat photo we have: ``python -m training.finetune``.

Starts from ``models/sitewatch-fp32.onnx`` (made trainable again by ``training/unfold.py``), not
from the starting weights: it already knows cigarettes and the 400 Kaggle photos, and on a CPU
every epoch counts. Trains all four labels on

* ``hardhat`` train (400) and ``neuhardhat`` train (3,788: crowded site and street photos, the
  originals the Kaggle set was cut from, none of them a copy of a Kaggle image),
* ``cigarette`` train (888),

with the recipe's two measures against "unlabelled = background": people pseudo-labelled on
every image by the starting weights (both hard-hat sets label people sparsely), heads on the
cigarette images pseudo-labelled by the model being tuned, and the partial-label loss. Half the
training images are degraded copies (distance, blur, low light, CCTV compression), seeded.

Everything is written under ``SITEWATCH_BUILD`` (default ``build/``): an interrupted run
resumes from its last epoch when the same command is run again. ``--export`` writes the best
checkpoint to ONNX (``models/sitewatch-fp32.onnx`` unless ``--out``); ``training/quantize.py``
makes the INT8 copy. models/README.md has the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training import partial_loss
from training.data import LABELS, Box, merge_pseudo, write_split, write_yaml
from training.train import (
    BUILD,
    ROOT,
    RUN,
    SHARED,
    cached,
    export,
    image_key,
    offline_ultralytics,
    predict_boxes,
    split_items,
    start_weights,
    train,
)
from training.unfold import unfold

# helmet, head, person, cigarette: 1 where the image's dataset labels it (people: pseudo-labels)
LABELLED = {"hardhat": [1, 1, 1, 0], "neuhardhat": [1, 1, 1, 0], "cigarette": [0, 0, 1, 1]}
HARDHAT_REMAP = {0: 0, 1: 1, 2: 2}


def prepare(source: Path, degrade_p: float) -> tuple[Path, Path]:
    """The trainable copy of ``source`` and the merged data set's ``data.yaml``."""
    from training.data import list_images

    weights = BUILD / "weights" / f"{source.stem}_unfolded.pt"
    if not weights.exists():
        pool = list_images(SHARED / "datasets" / "neuhardhat" / "images" / "train")
        pool += list_images(SHARED / "datasets" / "cigarette" / "images" / "train")
        diff = unfold(source, pool[:: max(1, len(pool) // 96)][:96], weights)
        print(f"unfolded {source} -> {weights} (max |diff| {diff:.5f})")
    out = BUILD / "ds_neu"
    if (out / "data.yaml").exists():
        return weights, out / "data.yaml"
    sets = {
        "hardhat": HARDHAT_REMAP,
        "neuhardhat": HARDHAT_REMAP,
        "cigarette": {0: 3},
    }
    items = {
        (d, s): split_items(d, s, remap) for d, remap in sets.items() for s in ("train", "val")
    }
    everything = [p for rows in items.values() for p, _ in rows]
    start = start_weights()
    persons = cached(
        "pseudo_person_all", lambda: predict_boxes(start, everything, {0: 2, 1: 2}, 0.4)
    )
    cig = [p for (d, _), rows in items.items() if d == "cigarette" for p, _ in rows]
    # the model being tuned labels the smokers' heads (all as bare heads: see training/train.py)
    heads = cached("pseudo_head_tuned", lambda: predict_boxes(weights, cig, {0: 1, 1: 1}, 0.5))
    for split in ("train", "val"):
        rows: list[tuple[Path, list[Box]]] = []
        for (d, s), part in items.items():
            if s != split:
                continue
            for p, boxes in part:
                extra = persons[image_key(p)] + (heads[image_key(p)] if d == "cigarette" else [])
                rows.append((p, merge_pseudo(boxes, extra)))
        write_split(out, split, rows, degrade_p if split == "train" else 0.0, seed=3)
    return weights, write_yaml(out, LABELS)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--source", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    ap.add_argument("--name", default="neu", help="run name (build/runs/NAME)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr0", type=float, default=0.002, help="initial learning rate (AdamW)")
    ap.add_argument("--degrade-p", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--export", action="store_true", help="write the best checkpoint to --out")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    a = ap.parse_args()
    RUN.update(device=a.device, workers=a.workers, batch=a.batch)
    offline_ultralytics()
    weights, data = prepare(a.source, a.degrade_p)
    if a.prepare_only:
        return
    partial_loss.install(LABELLED)
    best = train(
        data,
        weights,
        a.name,
        a.epochs,
        optimizer="AdamW",
        lr0=a.lr0,
        warmup_epochs=0.5,
        close_mosaic=2,
        save_period=1,
    )
    if a.export:
        export(best, a.out)


if __name__ == "__main__":
    main()

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

``--smokers bare`` (the run ``caps``) teaches the smokers' heads too: the cigarette set shows no
hard hat (its 21 helmet boxes >= 0.5 by the shipped model are caps, hoods, scarves and
objects), so `helmet` is learnt there as absent everywhere (every cap is a hard-hat negative),
and `head` as positive-only on the heads the shipped model finds there at 0.3 with its coarse
look, on a person it finds (``training/partial_loss.py``: a head it misses is not taught as
background).
``--neu-every N`` takes every Nth ``neuhardhat`` train photo (a shorter epoch on a CPU).
``--grids N`` adds N zoomed-out frames of each set (``training.data.write_grids``): 2 x 2
``neuhardhat`` photos, 3-5 a side of smokers, so that caps and close-up heads are also taught
at CCTV sizes (15-40 px).

Everything is written under ``SITEWATCH_BUILD`` (default ``build/``): an interrupted run
resumes from its last epoch when the same command is run again. ``--export`` writes the best
checkpoint to ONNX (``models/sitewatch-fp32.onnx`` unless ``--out``); ``training/quantize.py``
makes the INT8 copy. models/README.md has the figures.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from training import partial_loss
from training.data import LABELS, Box, merge_pseudo, write_grids, write_split, write_yaml
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
# (grids, --grids: cigarettes a few px wide there, so theirs is off and their boxes dropped)
LABELLED = {
    "hardhat": [1, 1, 1, 0],
    "neuhardhat": [1, 1, 1, 0],
    "cigarette": [0, 0, 1, 1],
    "neugrid": [1, 1, 1, 0],
    "ciggrid": [0, 0, 1, 0],
}
# --smokers bare: no hard hat on a cigarette image; its heads positive-only (see the module)
SMOKERS_BARE = {**LABELLED, "cigarette": [1, 1, 1, 1], "ciggrid": [1, 1, 1, 0]}
SMOKERS_POSITIVE = {"cigarette": [0, 1, 0, 0], "ciggrid": [0, 1, 0, 0]}
GRID_NS = {"neugrid": (2,), "ciggrid": (3, 4, 5)}  # photos a side: smokers are close-ups
SMOKER_HEAD_CONF = 0.3
HARDHAT_REMAP = {0: 0, 1: 1, 2: 2}


def shipped_heads(model: Path, images: list[Path], conf: float) -> dict[str, list[Box]]:
    """Heads (either state, as ``head``) the shipped ONNX model finds at ``conf`` with its
    coarse look, as the runtime finds them, each on a person it finds there (normalised
    ``cx, cy, w, h``). The person keeps out its other "helmets": lamps, fruit, packets."""
    import cv2

    from sitewatch.edge.detect.detector import Detector

    det = Detector(model, conf=conf, coarse_look=True)
    out: dict[str, list[Box]] = {}
    for i in range(0, len(images), 8):
        chunk = images[i : i + 8]
        frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in chunk]
        for path, frame, found in zip(chunk, frames, det.detect(frames), strict=True):
            h, w = frame.shape[:2]
            boxes = list(zip(found.xyxy.tolist(), found.class_ids.tolist(), strict=True))
            people = [b for b, c in boxes if c == 2]
            out[image_key(path)] = [
                (1, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
                for (x1, y1, x2, y2), c in boxes
                if c in (0, 1) and any(_inside((x1 + x2) / 2, (y1 + y2) / 2, p) for p in people)
            ]
    return out


def _inside(x: float, y: float, box: list[float]) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def prepare(
    source: Path,
    degrade_p: float,
    smokers: str = "unlabelled",
    neu_every: int = 1,
    grids: int = 0,
) -> tuple[Path, Path]:
    """The trainable copy of ``source`` and the merged data set's ``data.yaml``."""
    from training.data import list_images

    weights = BUILD / "weights" / f"{source.stem}_unfolded.pt"
    if not weights.exists():
        pool = list_images(SHARED / "datasets" / "neuhardhat" / "images" / "train")
        pool += list_images(SHARED / "datasets" / "cigarette" / "images" / "train")
        diff = unfold(source, pool[:: max(1, len(pool) // 96)][:96], weights)
        print(f"unfolded {source} -> {weights} (max |diff| {diff:.5f})")
    out = BUILD / (
        "ds_neu" if (smokers, neu_every) == ("unlabelled", 1) else f"ds_{smokers}{neu_every}"
    )
    out = out.with_name(f"{out.name}_g{grids}") if grids else out
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
    items["neuhardhat", "train"] = items["neuhardhat", "train"][::neu_every]
    everything = [p for rows in items.values() for p, _ in rows]
    start = start_weights()
    persons = cached(  # a subset of neuhardhat has its own cache: the keys are per image
        "pseudo_person_all" if neu_every == 1 else f"pseudo_person_neu{neu_every}",
        lambda: predict_boxes(start, everything, {0: 2, 1: 2}, 0.4),
    )
    cig = [p for (d, _), rows in items.items() if d == "cigarette" for p, _ in rows]
    # the model being tuned labels the smokers' heads (all as bare heads: see training/train.py)
    if smokers == "bare":
        model = ROOT / "models" / "sitewatch.onnx"  # one cache per model: runs follow each other
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
        heads = cached(f"pseudo_head_{digest}", lambda: shipped_heads(model, cig, SMOKER_HEAD_CONF))
    else:
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
        if split == "train" and grids:
            for prefix, dataset in (("neugrid", "neuhardhat"), ("ciggrid", "cigarette")):
                own = [(p, b) for p, b in rows if p.parent.parent.parent.name == dataset]
                own = [(p, [x for x in b if x[0] != 3]) for p, b in own]
                write_grids(out, prefix, own, grids, GRID_NS[prefix], seed=4)
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
    ap.add_argument("--smokers", choices=("unlabelled", "bare"), default="unlabelled")
    ap.add_argument("--neu-every", type=int, default=1, help="every Nth neuhardhat train photo")
    ap.add_argument("--grids", type=int, default=0, help="zoomed-out frames of each set")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--export", action="store_true", help="write the best checkpoint to --out")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    a = ap.parse_args()
    RUN.update(device=a.device, workers=a.workers, batch=a.batch)
    offline_ultralytics()
    weights, data = prepare(a.source, a.degrade_p, a.smokers, a.neu_every, a.grids)
    if a.prepare_only:
        return
    if a.smokers == "bare":
        partial_loss.install(SMOKERS_BARE, SMOKERS_POSITIVE)
    else:
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

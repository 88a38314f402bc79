"""The head look's and the coarse look's pure parts on literal detections (merging the crops'
and the coarse pass's head states, one state per head, which regions are worth a crop), then
both on real frames with the real model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sitewatch.edge.detect.decode import box_iou
from sitewatch.edge.detect.detector import Detector
from sitewatch.edge.detect.head_look import (
    defer_to_closer,
    merge_head_states,
    merge_other_scale,
    one_state_per_head,
)
from sitewatch.edge.detect.second_look import head_regions
from sitewatch.edge.detections import Detections
from sitewatch.tools.dataset import read_labels


def _dets(*rows: tuple[list[float], float, str]) -> Detections:
    return Detections.from_lists([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def _rows(dets: Detections) -> list[tuple[list[float], float, str]]:
    return [([round(v, 1) for v in b.tolist()], round(s, 3), n) for b, s, n in dets]


def test_a_crop_replaces_the_whole_frames_state_of_the_same_head() -> None:
    frame = _dets(
        ([100, 100, 110, 112], 0.6, "helmet"),  # a knit cap read as a hard hat, 10 px
        ([300, 300, 310, 312], 0.5, "helmet"),  # a head no crop saw: kept
        ([90, 95, 130, 200], 0.9, "person"),
    )
    crops = [
        _dets(([99, 99, 111, 113], 0.8, "head"), ([0, 0, 5, 5], 0.9, "cigarette")),
        _dets(([100, 100, 111, 112], 0.7, "head")),  # the same head in a neighbouring crop
    ]
    merged = merge_head_states(frame, crops, iou=0.45, max_detections=300)
    assert _rows(merged) == [
        ([90.0, 95.0, 130.0, 200.0], 0.9, "person"),
        ([99.0, 99.0, 111.0, 113.0], 0.8, "head"),
        ([300.0, 300.0, 310.0, 312.0], 0.5, "helmet"),
    ]


def test_crops_without_head_states_change_nothing() -> None:
    frame = _dets(([100, 100, 110, 112], 0.6, "helmet"))
    assert merge_head_states(frame, [_dets(([0, 0, 5, 5], 0.9, "cigarette"))], 0.45, 300) is frame


def test_the_coarse_look_adds_large_heads_and_yields_to_sure_states() -> None:
    frame = _dets(
        ([0, 0, 400, 400], 0.9, "person"),
        ([100, 100, 300, 320], 0.12, "head"),  # a close-up head, scored low: the coarse box wins
        ([500, 100, 620, 230], 0.7, "head"),  # sure: the coarse pass's helmet here is dropped
        ([700, 100, 720, 120], 0.5, "helmet"),  # small, the whole pass's: untouched
    )
    coarse = _dets(
        ([105, 98, 298, 318], 0.65, "head"),
        ([502, 101, 618, 228], 0.6, "helmet"),
        ([900, 100, 960, 150], 0.4, "head"),  # 50 frame px x 0.25 = 12.5 model px: too small
        ([900, 300, 1000, 420], 0.35, "head"),  # 30 model px, nobody saw it: added
        ([10, 10, 50, 50], 0.9, "cigarette"),  # not a head state: ignored
    )
    merged = merge_other_scale(frame, coarse, 0.25, min_px=16, iou=0.45, max_detections=300)
    assert _rows(merged) == [
        ([0.0, 0.0, 400.0, 400.0], 0.9, "person"),
        ([500.0, 100.0, 620.0, 230.0], 0.7, "head"),
        ([105.0, 98.0, 298.0, 318.0], 0.65, "head"),
        ([700.0, 100.0, 720.0, 120.0], 0.5, "helmet"),
        ([900.0, 300.0, 1000.0, 420.0], 0.35, "head"),
    ]


def test_a_coarse_pass_with_nothing_to_add_changes_nothing() -> None:
    frame = _dets(([100, 100, 110, 112], 0.6, "helmet"))
    small = _dets(([0, 0, 20, 20], 0.9, "head"))  # 5 model px at scale 0.25
    assert merge_other_scale(frame, small, 0.25, 16, 0.45, 300) is frame


def test_a_tile_decides_the_state_of_the_small_heads_it_sees() -> None:
    frame = _dets(
        ([100, 100, 112, 112], 0.6, "helmet"),  # a knit cap read as a hard hat, 4 model px
        ([300, 300, 312, 312], 0.5, "helmet"),  # seen by the tile only at 0.05: kept
        ([500, 100, 620, 220], 0.7, "helmet"),  # 40 model px: the whole pass judges it
        ([90, 95, 130, 200], 0.9, "person"),
    )
    tiled = _dets(
        ([99, 99, 112, 113], 0.4, "head"),
        ([300, 300, 312, 312], 0.05, "head"),
        ([500, 100, 620, 220], 0.8, "head"),
    )
    kept = defer_to_closer(frame, tiled, frame_scale=1 / 3, small_px=24)
    assert _rows(kept) == [_rows(frame)[i] for i in (1, 2, 3)]
    merged = merge_other_scale(kept, tiled[:2], 1.0, 0.0, 0.45, 300, sure_state=float("inf"))
    assert [(b[:2], s, n) for b, s, n in _rows(merged)] == [
        ([90.0, 95.0], 0.9, "person"),
        ([500.0, 100.0], 0.7, "helmet"),
        ([300.0, 300.0], 0.5, "helmet"),
        ([99.0, 99.0], 0.4, "head"),
        ([300.0, 300.0], 0.05, "head"),
    ]
    assert defer_to_closer(frame, tiled[:0], 1 / 3, 24) is frame


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (1.0, [("helmet", 0.8), ("head", 0.4), ("head", 0.3)]),  # off: both states as found
        (0.25, [("helmet", 0.8), ("head", 0.3), ("head", 0.1)]),
        (0.0, [("helmet", 0.8), ("head", 0.3)]),
    ],
)
def test_one_state_per_head(factor: float, expected: list[tuple[str, float]]) -> None:
    dets = _dets(
        ([0, 0, 10, 10], 0.8, "helmet"),
        ([0, 0, 10, 11], 0.4, "head"),  # the same head, the weaker state
        ([50, 50, 60, 60], 0.3, "head"),  # another head: untouched
    )
    out = one_state_per_head(dets, factor)
    assert [(n, round(s, 3)) for _, s, n in out] == expected


def test_the_bare_head_wins_when_it_is_the_stronger_state() -> None:
    dets = _dets(([0, 0, 10, 10], 0.5, "helmet"), ([0, 0, 10, 10], 0.7, "head"))
    out = one_state_per_head(dets, 0.5)
    assert [(n, round(s, 3)) for _, s, n in out] == [("head", 0.7), ("helmet", 0.25)]


def test_the_head_look_crops_lone_helmets_and_only_where_the_crop_is_sharper() -> None:
    dets = _dets(
        ([500, 500, 510, 510], 0.9, "helmet"),  # lone helmet, 10 px: side 48 (min)
        ([100, 100, 400, 900], 0.9, "person"),  # a near person: side 360
    )
    everything = head_regions(dets, (1000, 1000), min_score=0.25, max_crops=8, min_size=48)
    assert len(everything) == 1  # without the head look a lone helmet gets no crop
    looked = head_regions(
        dets,
        (1000, 1000),
        min_score=0.25,
        max_crops=8,
        min_size=48,
        lone=("head", "helmet"),
        max_side=200,
    )
    assert looked.tolist() == [[481, 495, 529, 544]]  # the person is too large to gain


def test_no_person_or_state_labels_no_crash() -> None:
    labels = ("cigarette",)
    dets = Detections(
        np.asarray([[0, 0, 5, 5]], np.float32),
        np.asarray([0.9], np.float32),
        np.asarray([0]),
        labels=labels,
    )
    assert one_state_per_head(dets, 0.0) is dets
    assert head_regions(dets, (100, 100), min_score=0.1, max_crops=8, min_size=8).size == 0


def _wide_frame(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    """A crowded neuhardhat val photo (500x333, 16 heads) at its own size in a 1920x1080 frame,
    and its heads' boxes (both states) in frame pixels."""
    folder = shared / "datasets" / "neuhardhat"
    image = cv2.imread(str(folder / "images" / "val" / "neu000969.jpg"))
    frame = np.full((1080, 1920, 3), 96, dtype=np.uint8)
    h, w = image.shape[:2]
    frame[300 : 300 + h, 700 : 700 + w] = image
    ids, boxes = read_labels(folder / "labels" / "val" / "neu000969.txt", w, h)
    return frame, boxes[np.isin(ids, [0, 1])] + np.asarray([700, 300, 700, 300], np.float32)


def _found(dets: Detections, heads: np.ndarray, *states: str) -> int:
    """Heads that a box of ``states`` (default: either) scoring at least 0.3 overlaps by IoU
    0.5."""
    boxes = dets[dets.scores >= 0.3].with_label(*(states or ("helmet", "head"))).xyxy
    return int((box_iou(heads, boxes) >= 0.5).any(axis=1).sum()) if len(boxes) else 0


def test_the_head_look_finds_the_heads_of_a_wide_frame(model_path: Path, shared: Path) -> None:
    frame, heads = _wide_frame(shared)
    detector = Detector(model_path, second_look=False, head_look=False)
    without = _found(detector.detect([frame])[0], heads)
    looked = _found(detector.detect([frame], heads=[True])[0], heads)
    assert len(heads) == 16
    assert looked >= max(without + 4, 12), (without, looked)  # 5 -> 16 with the 2026-11-22 model


def test_a_near_photo_gets_no_head_look_crops(model_path: Path, shared: Path) -> None:
    photo = cv2.imread(
        str(shared / "datasets" / "hardhat" / "images" / "val" / "hard_hat_workers1137.jpg")
    )
    with_look = Detector(model_path, second_look=False, head_look=True).detect([photo])[0]
    without = Detector(model_path, second_look=False, head_look=False).detect([photo])[0]
    assert with_look.label_names() == without.label_names()
    np.testing.assert_array_equal(with_look.scores, without.scores)


def test_a_cameras_head_look_overrides_the_detectors() -> None:
    from sitewatch.edge.config.load import load_config
    from sitewatch.edge.worker import wants_coarse_look, wants_head_look

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "cameras.yaml")
    looks = {cam.id: wants_head_look(config, cam) for cam in config.cameras}
    assert config.detector.head_look is False
    assert looks == {"cam-factory": True, "cam-smoking": False, "cam-gate": False}
    gate = config.cameras[2].model_copy(update={"coarse_look": True})
    assert not wants_coarse_look(config, config.cameras[2])
    assert wants_coarse_look(config, gate)


CLOSE_UPS = (  # evalsets/caps: one bare head each, that the model misses at one scale
    "397_jpg.rf.9ea4265fb65072e5e011686f07660792",
    "70_jpg.rf.85f4290e69b16347fd71753f025ec51d",
)


def test_the_coarse_look_finds_the_bare_heads_of_close_ups(model_path: Path, shared: Path) -> None:
    caps = Path(__file__).resolve().parents[2] / "evalsets" / "caps" / "labels"
    photos, heads = [], []
    for stem in CLOSE_UPS:
        photo = cv2.imread(
            str(shared / "datasets" / "cigarette" / "images" / "val" / f"{stem}.jpg")
        )
        ids, boxes = read_labels(caps / f"{stem}.txt", photo.shape[1], photo.shape[0])
        photos.append(photo)
        heads.append(boxes[ids == 1])
    detector = Detector(model_path, second_look=False, head_look=False)

    def bare(found: list[Detections]) -> int:
        return sum(_found(d, gt, "head") for d, gt in zip(found, heads, strict=True))

    without = bare(detector.detect(photos))
    looked = bare(detector.detect(photos, coarse=[True] * len(photos)))
    assert sum(len(h) for h in heads) == 2
    assert looked >= without + 2, (without, looked)  # 0 -> 2 with the model of 2026-12-06 20:30
    at_256, coarse = [256] * len(photos), [True] * len(photos)
    assert bare(detector.detect(photos, sizes=at_256, coarse=coarse)) == bare(
        detector.detect(photos, sizes=at_256)
    )  # a frame already analysed at the coarse size gets no coarse pass


def test_the_fine_look_finds_more_heads_of_a_cctv_view(shared: Path, model_path: Path) -> None:
    from bench.realistic_set import ROOT, build

    folder = build("factory", ROOT / "build" / "realistic")  # 11 hand-labelled 640x352 frames
    frames, heads = [], []
    for path in sorted((folder / "images" / "val").iterdir()):
        frame = cv2.imread(str(path))
        _, boxes = read_labels(folder / "labels" / "val" / f"{path.stem}.txt", 640, 352)
        frames.append(frame)
        heads.append(boxes)
    plain = Detector(model_path, second_look=False, head_look=False)
    fine = Detector(model_path, second_look=False, head_look=False, fine_scale=1.5)
    without = sum(_found(d, h) for d, h in zip(plain.detect(frames), heads, strict=True))
    looked = sum(_found(d, h) for d, h in zip(fine.detect(frames), heads, strict=True))
    assert sum(len(h) for h in heads) == 54
    # 22 -> 31 with the 2026-12-05 model, 24 -> 28 with the 7-bit C3 (2026-12-06 night)
    assert looked >= without + 3, (without, looked)
    assert [fine.fine((s, s)) for s in (256, 416, 640, 1280)] == [
        (384, 384),
        (640, 640),
        (960, 960),
        None,  # the largest input: no finer look
    ]
    assert plain.fine((416, 416)) is None

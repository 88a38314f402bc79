"""The realistic evaluation set rebuilds from ../shared with exactly the committed labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from bench import realistic_set
from sitewatch.tools.dataset import open_dataset


def test_far_caps_heads_are_as_a_distant_1080p_camera_sees_them(tmp_path: Path) -> None:
    folder = realistic_set.build("caps1080", tmp_path)
    data = open_dataset(folder)
    tallest = []
    for path in data.images:
        rows = [line.split() for line in data.label_file(path).read_text().splitlines()]
        tallest.append(max(float(r[4]) for r in rows) * 1080)
    low, high = realistic_set.FAR_HEAD_PX
    assert all(low - 1 <= t <= high + 1 for t in tallest), (
        sorted(tallest)[:3] + sorted(tallest)[-3:]
    )


@pytest.mark.parametrize("part", sorted(realistic_set.SYNTHETIC))
def test_synthetic_parts_rebuild_with_the_committed_labels(part: str, tmp_path: Path) -> None:
    folder = realistic_set.build(part, tmp_path)
    committed = (realistic_set.EVALSETS / part / "labels.txt").read_text()
    assert realistic_set.synthetic_labels(folder) == committed
    sources = 45 if part == "caps1080" else 201  # the caps photos; every third neuhardhat val
    assert len(open_dataset(folder).images) == sources


@pytest.mark.parametrize("part", ["factory", "caps"])
def test_hand_labelled_parts_have_an_image_for_every_label(part: str, tmp_path: Path) -> None:
    folder = realistic_set.build(part, tmp_path)
    data = open_dataset(folder)
    labelled = sorted(p.stem for p in (realistic_set.EVALSETS / part / "labels").glob("*.txt"))
    assert sorted(p.stem for p in data.images) == labelled
    assert data.names == {0: "helmet", 1: "head"}


def test_a_changed_label_rebuilds_the_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evalsets = tmp_path / "evalsets"
    (evalsets / "caps" / "labels").mkdir(parents=True)
    names = (realistic_set.EVALSETS / "caps" / "images.txt").read_text().split()[:2]
    (evalsets / "caps" / "images.txt").write_text("\n".join(names) + "\n")
    for name in names:
        stem = Path(name).stem
        (evalsets / "caps" / "labels" / f"{stem}.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    monkeypatch.setattr(realistic_set, "EVALSETS", evalsets)
    out = tmp_path / "built"
    first = realistic_set.build("caps", out)
    label = first / "labels" / "val" / f"{Path(names[0]).stem}.txt"
    assert label.read_text() == "1 0.5 0.5 0.2 0.2\n"
    (evalsets / "caps" / "labels" / f"{Path(names[0]).stem}.txt").write_text("0 0.4 0.4 0.1 0.1\n")
    realistic_set.build("caps", out)
    assert label.read_text() == "0 0.4 0.4 0.1 0.1\n"


def test_a_shrunk_part_is_its_source_at_its_size_with_the_same_labels(tmp_path: Path) -> None:
    folder = realistic_set.build("wide960", tmp_path)
    assert (
        realistic_set.synthetic_labels(folder)
        == (realistic_set.EVALSETS / "wide1080" / "labels.txt").read_text()
    )
    data = open_dataset(folder)
    assert len(data.images) == 201
    shapes = {cv2.imread(str(p), cv2.IMREAD_COLOR).shape for p in data.images[::40]}
    assert shapes == {(540, 960, 3)}

"""The installed ``sitewatch`` command, run as a subprocess on real files and the real model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import cv2
import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.edge.detect.detector import OTHER_STATE_FACTOR, Detector

IMAGES = ["hard_hat_workers1137.jpg", "hard_hat_workers1179.jpg"]
CLIP_FPS = 10
CLIP_SECONDS = 3


class Detection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    label: str
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    box: tuple[float, float, float, float]


class ImageRecord(BaseModel):
    """One line of ``sitewatch detect --json``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image: str
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    detections: list[Detection]

    @model_validator(mode="after")
    def boxes_inside_the_image(self) -> ImageRecord:
        for d in self.detections:
            x1, y1, x2, y2 = d.box
            if not (0 <= x1 <= x2 <= self.width and 0 <= y1 <= y2 <= self.height):
                raise ValueError(f"box {d.box} is not inside {self.width}x{self.height}")
        return self


def _sitewatch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "sitewatch"
    found = str(script) if script.is_file() else shutil.which("sitewatch")
    if found is None:
        pytest.skip("the sitewatch script is not installed: pip install -e . --no-deps")
    return subprocess.run(
        [found, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _records(stdout: str, labels: tuple[str, ...]) -> list[ImageRecord]:
    records = [ImageRecord.model_validate_json(line) for line in stdout.splitlines()]
    for record in records:
        for d in record.detections:
            assert d.label in labels, f"{d.label!r} is not one of the model's labels {labels}"
    return records


@pytest.fixture(scope="module")
def labels(model_path: Path) -> tuple[str, ...]:
    return Detector(model_path, second_look=False).labels


@pytest.fixture(scope="module")
def inputs(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two hard-hat images, a corrupt JPEG, and a 3 s clip cut from the CCTV video."""
    folder = tmp_path_factory.mktemp("inputs")
    images = [shared / "datasets" / "hardhat" / "images" / "val" / n for n in IMAGES]
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(images[0].read_bytes()[:200] + b"\x00" * 100)
    clip = folder / "clip.mp4"
    source = cv2.VideoCapture(str(shared / "clips" / "factory_floor_cctv.mp4"))
    writer: cv2.VideoWriter | None = None
    for _ in range(CLIP_FPS * CLIP_SECONDS):
        ok, frame = source.read()
        assert ok, "cannot read factory_floor_cctv.mp4"
        if writer is None:
            size = (frame.shape[1], frame.shape[0])
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), CLIP_FPS, size)
        writer.write(frame)
    source.release()
    assert writer is not None
    writer.release()
    return [images[0], corrupt, images[1], clip]


def test_detect_json(model_path: Path, labels: tuple[str, ...], inputs: list[Path]) -> None:
    done = _sitewatch("detect", "--json", "--model", model_path, *inputs)
    assert done.returncode == 1, done.stderr
    image0, corrupt, image1, clip = inputs
    assert f"{corrupt}: cannot decode" in done.stderr
    records = _records(done.stdout, labels)
    frames = [f"{clip}#frame={i * CLIP_FPS}" for i in range(CLIP_SECONDS)]
    assert [r.image for r in records] == [str(image0), str(image1), *frames]
    for record, path in zip(records, [image0, image1], strict=False):
        h, w = cv2.imread(str(path)).shape[:2]
        assert (record.width, record.height) == (w, h)
    assert all((r.width, r.height) == (640, 352) for r in records[2:])
    assert sum(len(r.detections) for r in records) > 0, "nothing found on five frames of workers"


def test_detect_low_conf(model_path: Path, labels: tuple[str, ...], inputs: list[Path]) -> None:
    usual = _records(
        _sitewatch("detect", "--json", "--model", model_path, inputs[0]).stdout, labels
    )
    done = _sitewatch("detect", "--json", "--conf", "0.001", "--model", model_path, inputs[0])
    assert done.returncode == 0, done.stderr
    (low,) = _records(done.stdout, labels)
    assert len(usual[0].detections) < len(low.detections) <= 300
    assert min(d.score for d in low.detections) < 0.25


def test_detect_writes_annotated_images(
    model_path: Path, inputs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "annotated"
    done = _sitewatch("detect", "--model", model_path, "--out", out, inputs[0], inputs[2])
    assert done.returncode == 0, done.stderr
    written = sorted(out.iterdir())
    assert [p.name for p in written] == sorted(Path(n).stem + ".jpg" for n in IMAGES)
    for path, source in zip(written, sorted([inputs[0], inputs[2]]), strict=True):
        drawn, original = cv2.imread(str(path)), cv2.imread(str(source))
        assert drawn is not None and drawn.shape == original.shape
    assert done.stdout.splitlines()[-1].startswith("total: 2 images")


def test_missing_model_exits_2(inputs: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model.onnx"
    done = _sitewatch("detect", "--json", "--model", missing, inputs[0])
    assert done.returncode == 2
    assert str(missing) in done.stderr and done.stdout == ""


def test_garbage_model_exits_2(inputs: list[Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_text("this is not a model")
    done = _sitewatch("detect", "--model", garbage, inputs[0])
    assert done.returncode == 2
    assert f"cannot load model {garbage}" in done.stderr


def test_a_fine_scale_below_1_exits_2_and_says_why(inputs: list[Path]) -> None:
    done = _sitewatch("detect", "--json", "--fine-scale", "0.5", inputs[0])
    assert done.returncode == 2 and done.stdout == ""
    assert "fine_scale must be above 1" in done.stderr and "--fine-scale 0" in done.stderr


def test_a_negative_tile_scale_exits_2_and_says_why(inputs: list[Path]) -> None:
    done = _sitewatch("detect", "--json", "--tile-scale", "-1", inputs[0])
    assert done.returncode == 2 and done.stdout == ""
    assert "tile_scale must be above 0" in done.stderr and "--tile-scale 0" in done.stderr


def test_a_weaker_state_factor_outside_0_to_1_exits_2_and_says_why(inputs: list[Path]) -> None:
    done = _sitewatch("detect", "--json", "--other-state", "2", inputs[0])
    assert done.returncode == 2 and done.stdout == ""
    assert "--other-state: expected a number from 0 to 1, got 2" in done.stderr


@pytest.fixture(scope="module")
def eval_set(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The first 5 hard-hat val images showing a bare head, and the GT boxes per label."""
    folder = tmp_path_factory.mktemp("eval_set")
    source = shared / "datasets" / "hardhat"
    for sub in ("images/val", "labels/val"):
        (folder / sub).mkdir(parents=True)
    shutil.copy(source / "data.yaml", folder / "data.yaml")
    gt: dict[str, int] = {"helmet": 0, "head": 0, "person": 0}
    names = list(gt)
    for image in sorted((source / "images" / "val").glob("*.jpg")):
        label = source / "labels" / "val" / f"{image.stem}.txt"
        if "1" not in {line.split()[0] for line in label.read_text().splitlines()}:
            continue
        if len(list((folder / "images" / "val").iterdir())) == 5:
            break
        shutil.copy(image, folder / "images" / "val")
        shutil.copy(label, folder / "labels" / "val")
        for line in label.read_text().splitlines():
            gt[names[int(line.split()[0])]] += 1
    return folder, gt


def test_eval_prints_ap_per_label(
    model_path: Path, labels: tuple[str, ...], eval_set: tuple[Path, dict[str, int]]
) -> None:
    folder, gt = eval_set
    done = _sitewatch("eval", folder, "--model", model_path, "--no-second-look")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    assert rows["label"] == ["label", "GT", "AP50", "P@0.25", "R@0.25"]
    for label, count in gt.items():
        if label not in labels:
            continue
        _, n, ap, *_ = rows[label]
        assert int(n) == count
        assert (ap == "-") if count == 0 else (0.0 <= float(ap) <= 1.0)
    assert "ms/image" in done.stdout.split("throughput:")[1]
    assert f"weaker head state x{OTHER_STATE_FACTOR:g})" in done.stdout
    if {"helmet", "head"} <= set(labels):
        line = next(x for x in done.stdout.splitlines() if x.startswith("bare heads called"))
        assert re.fullmatch(
            rf"bare heads called helmet: \d+ of {gt['head']} \(\d+\.\d %\), missed entirely: "
            r"\d+ \(\d+\.\d %\) \(conf 0\.25, IoU 0\.5\)",
            line,
        ), line
        assert "hard hats called head: " in done.stdout
    # progress goes to stderr only, ending with a line for all 5 images
    assert "eval:" not in done.stdout
    assert re.fullmatch(
        r"eval: 5/5 images, \d+\.\d ms/image, done in \d+\.\d s", done.stderr.splitlines()[-1]
    ), done.stderr

    done = _sitewatch("eval", folder, "--model", model_path, "--no-second-look", "--json")
    report = json.loads(done.stdout)
    assert report["images"] == 5 and report["conf"] == 0.25
    assert report["other_state"] == OTHER_STATE_FACTOR  # the default, reported
    assert {s["label"]: s["gt_boxes"] for s in report["labels"]} == {
        k: v for k, v in gt.items() if k in labels
    }
    evaluated = [s["label"] for s in report["labels"]]
    matrix = report["confusions"]
    assert matrix["rows"] == [*evaluated, "background"]
    assert matrix["columns"] == [*evaluated, "missed"]
    assert [sum(row) for row in matrix["counts"][:-1]] == [gt[k] for k in evaluated]
    if {"helmet", "head"} <= set(labels):
        states = {h["label"]: h for h in report["head_states"]}
        assert states["head"]["other"] == "helmet" and states["head"]["gt_boxes"] == gt["head"]
        assert set(states["head"]) == {
            "label",
            "other",
            "gt_boxes",
            "found",
            "called_other",
            "called_other_share",
            "missed",
            "missed_share",
        }
    assert "eval: 5/5 images" in done.stderr


def test_eval_plots(
    model_path: Path, eval_set: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    folder, _ = eval_set
    plots = tmp_path / "plots" / "new"
    done = _sitewatch(
        "eval", folder, "--model", model_path, "--no-second-look", "--json", "--plots", plots
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # stdout stays the JSON alone
    for name in ("pr_curve.png", "confusion_matrix.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        image = cv2.imread(str(plots / name))
        assert image is not None and image.shape[0] > 300 and image.shape[1] > 300, name
        assert image.std() > 10, f"{name} looks blank"


def test_eval_plots_into_a_file_exits_2(
    model_path: Path, eval_set: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    folder, _ = eval_set
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    done = _sitewatch("eval", folder, "--model", model_path, "--plots", blocker / "plots")
    assert done.returncode == 2
    assert f"--plots {blocker / 'plots'}" in done.stderr and done.stdout == ""


def test_edge_without_its_config_file_exits_1(tmp_path: Path) -> None:
    """1 = fix the config: a supervisor (systemd's RestartPreventExitStatus=1) does not loop."""
    missing = tmp_path / "cameras.yaml"
    done = _sitewatch("edge", "--config", missing)
    assert done.returncode == 1, done.stderr
    assert f"no config file {missing}" in done.stderr

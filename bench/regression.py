"""Accuracy regression figures on a small fixed subset: ``python -m bench.regression [--write]``.

The model (default ``sitewatch.edge.detect.detector.DEFAULT_MODEL``) with ``sitewatch eval``'s
settings (one label per box, second, head, coarse, fine and tile looks on, ``MAX_CROPS``) and
``conf=AP_CONF``, on the first ``IMAGES_PER_SET`` images (sorted by name) of the val split of
each set in ``SETS`` under ``../shared/datasets``. Figures: AP50 per label with at least
``MIN_GT_BOXES`` GT boxes, and the head-state confusion shares at ``CONF`` (bare heads called
helmet, hard hats called head). ``--write`` stores them in ``EXPECTED`` with the model file's
SHA-256; ``tests/regression/test_eval_regression.py`` fails when an AP50 falls, or a share rises,
by more than ``TOLERANCE``. Exit 1 when it would fail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.far_set import SHARED
from bench.realistic_set import PARTS, build
from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector
from sitewatch.edge.detect.tiles import TILE_SCALE
from sitewatch.tools.cli import FINE_SCALE, LARGE_INPUT, MAX_CROPS
from sitewatch.tools.evaluate import AP_CONF, evaluate

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "tests" / "regression" / "expected" / "eval_regression.json"
SETS = ("hardhat", "neuhardhat", "cigarette", "sub360", "factory", "caps", "caps1080")
"""Val splits under ``../shared/datasets``, then parts of the realistic set (built from
``../shared`` by ``bench/realistic_set.py``): wide views, where the head look works,
close-ups, where the coarse look does, and far caps in 1080p frames, where the tile look does."""
IMAGES_PER_SET = 40
CONF = 0.25
"""Operating threshold of the confusion shares (``sitewatch eval``'s default ``--conf``)."""
MIN_GT_BOXES = 10
"""Labels (and head states) with fewer GT boxes in a set are left out: too few to pin."""
TOLERANCE = 0.02
"""How far an AP50 may fall, or a confusion share rise, before the test fails (absolute)."""
COMMAND = "python -m bench.regression --write"
DIGITS = 4


def figures(model: Path, shared: Path) -> dict[str, Any]:
    """The regression record of ``model`` on ``shared``'s datasets (see the module docstring).

    ``sets`` maps set name -> ``images``, ``gt_boxes`` and ``ap50`` per label and ``shares``
    (``<state>_called_<other>``), for labels and states with ``MIN_GT_BOXES`` GT boxes or more.
    """
    detector = Detector(
        model,
        conf=AP_CONF,
        max_crops=MAX_CROPS,
        large_input=LARGE_INPUT,
        coarse_look=True,
        fine_scale=FINE_SCALE,
        tile_scale=TILE_SCALE,
    )
    sets: dict[str, Any] = {}
    for name in SETS:
        folder = shared / "datasets" / name
        if name in PARTS:
            folder = build(name, ROOT / "build" / "realistic")
        report = evaluate(detector, folder, "val", CONF, limit=IMAGES_PER_SET)
        sets[name] = {
            "images": report.images,
            "gt_boxes": {s.label: s.gt_boxes for s in report.labels if s.gt_boxes},
            "ap50": {
                s.label: round(s.ap50, DIGITS) for s in report.labels if s.gt_boxes >= MIN_GT_BOXES
            },
            "shares": {
                f"{h.label}_called_{h.other}": round(h.called_other_share, DIGITS)
                for h in report.head_states
                if h.gt_boxes >= MIN_GT_BOXES
            },
        }
    return {
        "model": _shown(model),
        "model_sha256": sha256(model),
        "command": COMMAND,
        "images_per_set": IMAGES_PER_SET,
        "conf": CONF,
        "tolerance": TOLERANCE,
        "min_gt_boxes": MIN_GT_BOXES,
        "detector": {
            "conf": AP_CONF,
            "multi_label": detector.multi_label,
            "second_look": detector.second_look,
            "head_look": detector.head_look,
            "coarse_look": detector.coarse_look,
            "fine_scale": FINE_SCALE,
            "tile_scale": TILE_SCALE,
            "other_state": detector.other_state,
            "max_crops": detector.max_crops,
            "large_input": LARGE_INPUT,
        },
        "sets": sets,
    }


def compare(
    expected: dict[str, Any], got: dict[str, Any], tolerance: float = TOLERANCE
) -> list[str]:
    """One line per figure of ``expected`` that ``got`` misses or is worse by over ``tolerance``:
    an AP50 lower, a confusion share higher. Better figures pass."""
    problems = []
    for name, want in expected["sets"].items():
        have = got["sets"].get(name, {})
        if "gt_boxes" in want and want["gt_boxes"] != have.get("gt_boxes"):
            problems.append(
                f"{name}: GT boxes per label were {want['gt_boxes']}, now "
                f"{have.get('gt_boxes')}: the images or labels under ../shared changed"
            )
        for kind, worse, what in (("ap50", -1.0, "AP50 of"), ("shares", 1.0, "share")):
            for key, value in want[kind].items():
                now = have.get(kind, {}).get(key)
                if now is None:
                    problems.append(
                        f"{name}: {what} {key}: expected {value:.3f}, got none "
                        f"(fewer than {MIN_GT_BOXES} GT boxes, or the label is not in the model)"
                    )
                elif worse * (now - value) > tolerance + 1e-9:
                    way = "fell" if worse < 0 else "rose"
                    problems.append(
                        f"{name}: {what} {key} {way} from {value:.3f} (expected) to {now:.3f} "
                        f"(got), more than {tolerance} {'below' if worse < 0 else 'above'}"
                    )
    return problems


def explain(problems: list[str], expected: dict[str, Any], got: dict[str, Any]) -> str:
    """The failure message: the figures, where the expected ones came from, what to do."""
    same = expected.get("model_sha256") == got["model_sha256"]
    model = (
        "the same model file as when they were written"
        if same
        else f"a different model file (sha256 {got['model_sha256'][:12]}, expected "
        f"{str(expected.get('model_sha256'))[:12]})"
    )
    return (
        f"accuracy regression on the first {expected['images_per_set']} val images of each set, "
        f"against {_shown(EXPECTED)}, with {model}:\n  "
        + "\n  ".join(problems)
        + f"\nIf the change is intended (a new model, a detector change), rerun `{COMMAND}` and "
        "say why in the commit; otherwise find what lowered it."
    )


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def table(record: dict[str, Any], expected: dict[str, Any] | None) -> str:
    """Figures per set, beside the expected ones when there are any."""
    rows = [f"{'set':<12}{'figure':<24}{'GT':>6}{'got':>8}{'expected':>10}"]
    for name, figs in record["sets"].items():
        want = (expected or {}).get("sets", {}).get(name, {})
        for kind, prefix in (("ap50", "AP50 "), ("shares", "")):
            for key, value in figs[kind].items():
                gt = figs["gt_boxes"].get(key.split("_called_")[0], "")
                old = want.get(kind, {}).get(key)
                shown = "-" if old is None else f"{old:.3f}"
                rows.append(f"{name:<12}{prefix + key:<24}{gt:>6}{value:>8.3f}{shown:>10}")
    return "\n".join(rows)


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model file")
    ap.add_argument("--write", action="store_true", help=f"store the figures in {EXPECTED}")
    args = ap.parse_args()
    began = time.perf_counter()
    record = figures(args.model, SHARED)
    seconds = time.perf_counter() - began
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.is_file() else None
    print(table(record, expected))
    print(f"{IMAGES_PER_SET} images per set, shares at conf {CONF}, {seconds:.1f} s")
    if args.write:
        EXPECTED.parent.mkdir(parents=True, exist_ok=True)
        EXPECTED.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {_shown(EXPECTED)}")
        return 0
    if expected is None:
        print(f"no expected figures in {_shown(EXPECTED)}; write them with `{COMMAND}`")
        return 0
    problems = compare(expected, record)
    if problems:
        print(explain(problems, expected, record), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

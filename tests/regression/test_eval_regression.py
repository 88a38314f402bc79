"""Accuracy against committed figures: AP50 and head-state confusion shares of the model on the
first 40 val images of each shared set (``bench/regression.py``), compared with
``tests/regression/expected/eval_regression.json``. A new model or detector change that lowers an
AP50, or raises a share, by more than 0.02 fails here; if intended, rewrite the figures with
``python -m bench.regression --write`` and say why in the commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.regression import COMMAND, EXPECTED, TOLERANCE, compare, explain, figures

pytestmark = pytest.mark.slow


def test_accuracy_has_not_regressed(model_path: Path, shared: Path) -> None:
    if not EXPECTED.is_file():
        pytest.fail(f"expected figures {EXPECTED} not found; write them with `{COMMAND}`")
    expected = json.loads(EXPECTED.read_text())
    got = figures(model_path, shared)
    problems = compare(expected, got, TOLERANCE)
    assert not problems, explain(problems, expected, got)


@pytest.mark.parametrize(
    ("ap50", "share", "problems"),
    [
        (0.80, 0.10, []),  # as expected
        (0.781, 0.119, []),  # worse, within 0.02
        (0.95, 0.0, []),  # better
        (0.77, 0.10, ["hardhat: AP50 of head fell from 0.800 (expected) to 0.770 (got)"]),
        (0.80, 0.13, ["hardhat: share head_called_helmet rose from 0.100 (expected) to 0.130"]),
        (None, 0.10, ["hardhat: AP50 of head: expected 0.800, got none"]),
    ],
)
def test_compare_flags_only_figures_worse_than_the_tolerance(
    ap50: float | None, share: float, problems: list[str]
) -> None:
    expected = {"sets": {"hardhat": {"ap50": {"head": 0.8}, "shares": {"head_called_helmet": 0.1}}}}
    got = {
        "sets": {
            "hardhat": {
                "ap50": {} if ap50 is None else {"head": ap50},
                "shares": {"head_called_helmet": share},
            }
        }
    }
    found = compare(expected, got, 0.02)
    assert len(found) == len(problems)
    for line, start in zip(found, problems, strict=True):
        assert line.startswith(start), line


def test_compare_says_when_the_data_changed() -> None:
    expected = {"sets": {"hardhat": {"gt_boxes": {"head": 24}, "ap50": {}, "shares": {}}}}
    got = {"sets": {"hardhat": {"gt_boxes": {"head": 23}, "ap50": {}, "shares": {}}}}
    (line,) = compare(expected, got)
    assert "GT boxes per label were {'head': 24}, now {'head': 23}" in line
    assert "../shared changed" in line

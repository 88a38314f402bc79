"""Shared fixtures: the real model, the shared third-party data, and an opened detector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitewatch.edge.detect.detector import DEFAULT_MODEL, Detector

REPO = Path(__file__).resolve().parent.parent
MODEL_ENV = "SITEWATCH_MODEL"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model under test: ``$SITEWATCH_MODEL`` or the shipped ``models/sitewatch.onnx``."""
    path = Path(os.environ.get(MODEL_ENV, DEFAULT_MODEL))
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file():
        pytest.fail(
            f"model {path} not found: it ships in models/ (check out the whole repository), "
            f"or point {MODEL_ENV} at a YOLOv8 ONNX export"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared`` (datasets, clips) next to the repository."""
    path = Path(os.environ.get("SITEWATCH_SHARED", REPO.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found; it holds the datasets and clips")
    return path


@pytest.fixture(scope="session")
def detector(model_path: Path) -> Detector:
    """One detector with default settings, shared by the tests that only call ``detect``."""
    return Detector(model_path)


@pytest.fixture(scope="session")
def hardhat_val(shared: Path) -> Path:
    return shared / "datasets" / "hardhat"

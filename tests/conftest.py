"""Shared fixtures: the real model, the shared third-party data, and an opened detector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.detector import Detector

REPO = Path(__file__).resolve().parent.parent
MODEL_ENV = "SITEWATCH_MODEL"
DEFAULT_TEST_MODEL = REPO / "models" / "sitewatch-v8s-416.onnx"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model under test: ``$SITEWATCH_MODEL`` or ``models/sitewatch-v8s-416.onnx``."""
    path = Path(os.environ.get(MODEL_ENV, DEFAULT_TEST_MODEL))
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file():
        pytest.skip(
            f"model {path} not found: train and export it (training/), or point "
            f"{MODEL_ENV} at a YOLOv8 ONNX export"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared`` (datasets, clips) next to the repository."""
    path = REPO.parent / "shared"
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

"""The shipped INT8 model computes the same on every x86 CPU: its int8 weights fit in 7 bits, so
ONNX Runtime's uint8 x int8 sums cannot saturate on CPUs without VNNI (models/README.md, "INT8
on CPUs without VNNI"); a model quantised with full 8-bit weights is reported there."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from sitewatch.edge.detect import model as model_module
from sitewatch.edge.detect.detector import CHECKOUT_MODEL
from sitewatch.edge.detect.model import WEIGHT_BITS_KEY, open_model

NO_VNNI = frozenset({"sse4_2", "avx", "avx2", "fma"})


def test_shipped_int8_weights_fit_in_seven_bits() -> None:
    model = onnx.load(str(CHECKOUT_MODEL))
    weights = [
        numpy_helper.to_array(t)
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    ]
    assert len(weights) > 50, "expected the quantised YOLOv8s's int8 convolution weights"
    widest = max(int(np.abs(w.astype(np.int16)).max()) for w in weights)
    # 255 x 64 x 2 = 32,640: a pair of products stays inside int16 (32,767)
    assert widest <= 64, f"int8 weights reach {widest}: quantise with reduce_range (7 bits)"
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta.get(WEIGHT_BITS_KEY) == "7"


@pytest.fixture
def no_vnni(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without VNNI. A fake: which CPU a test runs on cannot be chosen."""
    monkeypatch.setattr(model_module, "cpu_flags", lambda: NO_VNNI)
    monkeypatch.setattr(model_module.platform, "machine", lambda: "x86_64")


def test_full_range_model_warns_on_a_cpu_without_vnni(
    no_vnni: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = onnx.load(str(CHECKOUT_MODEL))
    meta = {p.key: p.value for p in model.metadata_props if p.key != WEIGHT_BITS_KEY}
    onnx.helper.set_model_props(model, meta)  # as the models quantised before 2026-12-06
    old = tmp_path / "full-range.onnx"
    onnx.save(model, str(old))
    with caplog.at_level(logging.WARNING, logger=model_module.__name__):
        assert open_model(CHECKOUT_MODEL)[1].warnings == ()
        assert caplog.records == []
        said = open_model(old)[1].warnings
    assert len(caplog.records) == 1
    assert "no VNNI" in caplog.text and "python -m training.quantize" in caplog.text
    # the same words go to the console in the edge's status (EdgeStatus.warnings)
    assert len(said) == 1 and said[0].code == "model.int8_saturates"
    assert said[0].params == {"model": "full-range.onnx"} and said[0].text in caplog.text

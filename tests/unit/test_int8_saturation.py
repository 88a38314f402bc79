"""When an ONNX Runtime-quantised model's int8 sums can saturate (x86 without VNNI, weights
with all 8 bits): ``sitewatch.edge.detect.model.int8_saturates`` on literal metadata."""

from __future__ import annotations

import pytest

from sitewatch.edge.detect.model import QUANTISED_KEY, WEIGHT_BITS_KEY, int8_saturates

OLD = {QUANTISED_KEY: "onnxruntime.quant"}
SEVEN = OLD | {WEIGHT_BITS_KEY: "7"}
AVX2 = frozenset({"avx", "avx2", "fma"})


@pytest.mark.parametrize(
    ("meta", "machine", "flags", "saturates"),
    [
        (OLD, "x86_64", AVX2, True),
        (OLD, "AMD64", AVX2 | {"avx512f", "avx512bw"}, True),  # AVX-512 without VNNI
        (SEVEN, "x86_64", AVX2, False),
        (OLD, "x86_64", AVX2 | {"avx512_vnni"}, False),
        (OLD, "x86_64", AVX2 | {"avx_vnni"}, False),
        (OLD, "aarch64", frozenset({"asimd"}), False),
        ({}, "x86_64", AVX2, False),  # a float model
        (OLD, "x86_64", None, False),  # flags unknown: no guess
    ],
)
def test_int8_saturates(
    meta: dict[str, str], machine: str, flags: frozenset[str] | None, saturates: bool
) -> None:
    assert int8_saturates(meta, machine, flags) is saturates

"""The edge's standing warnings: a code the console translates, its parameters, English text.

A warning is a problem the edge cannot fix itself (a setting that cannot work on this box or
stream), sent in its retained status until it no longer holds. :data:`WARNING_TEXTS` maps each
code to its English template; :func:`edge_warning` fills it, so the edge's log and the status
say the same. The console page looks up ``edge_warning.<code>`` in its language file
(static/lang/*.json) and fills ``{name}`` placeholders from ``params``; a code it does not know
shows ``text`` (tests/unit/test_edge_warnings.py checks that both language files have every code
with the same placeholders). Codes are stable: rename none, add.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field

from sitewatch.contract.codec import Strict

WARNING_TEXTS: Final[Mapping[str, str]] = {
    "tile_look.model": (
        "tile_look is on, but the model {model} cannot run it (it needs a model with dynamic "
        "height/width and both head states, as models/sitewatch.onnx); use such a model, or "
        "turn tile_look off"
    ),
    "tile_look.small_frames": (
        "tile_look is on, but its detect stream's {width}x{height} frames are too small for "
        "tiles at input size {input_size} (they need frames about twice that size or more: a "
        "1080p main stream); point its detect URL at the camera's main stream, or turn "
        "tile_look off (its frames still run in batches of their own)"
    ),
    "model.int8_saturates": (
        "model {model}: an INT8 model without metadata int8_weight_bits 7 (its weights may use "
        "all 8 bits), and this x86 CPU has no VNNI: ONNX Runtime's int8 sums can saturate here, "
        'and such a model found far fewer heads (models/README.md, "INT8 on CPUs without '
        'VNNI"). Quantise it again with `python -m training.quantize --model <its float '
        "model>` (7-bit weights), or run the float model."
    ),
}
OTHER: Final = "other"
"""The code of a warning that came as plain text (edges that sent no codes): shown as it is."""
CODE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){0,3}$"
PARAM_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class EdgeWarning(Strict):
    """One standing warning: what kind (``code``), its values (``params``), and the English."""

    code: str = Field(
        pattern=CODE_PATTERN,
        description="Which problem (e.g. tile_look.small_frames); the console translates the "
        f"codes it knows and shows text for others ('{OTHER}': came as plain text).",
    )
    params: Annotated[
        dict[
            Annotated[str, Field(pattern=PARAM_PATTERN)],
            Annotated[str, Field(max_length=200)],
        ],
        Field(max_length=8),
    ] = Field(default_factory=dict, description="Values of the code's {name} placeholders.")
    text: str = Field(
        min_length=1, max_length=1000, description="English: the problem and what to do."
    )


def _from_text(value: Any) -> Any:
    """A plain string (from edges that sent no codes) reads as a warning of code ``other``."""
    return {"code": OTHER, "text": value} if isinstance(value, str) else value


Warnings = Annotated[list[Annotated[EdgeWarning, BeforeValidator(_from_text)]], Field(max_length=8)]
"""At most 8 warnings; each an :class:`EdgeWarning` or, from older edges, a plain string."""


def edge_warning(code: str, **params: object) -> EdgeWarning:
    """The warning ``code`` with its template filled from ``params`` (each shown with str)."""
    template = WARNING_TEXTS[code]
    missing = placeholders(template) ^ params.keys()
    if missing:
        raise ValueError(f"warning {code} takes {sorted(placeholders(template))}, not {missing}")
    shown = {name: str(value) for name, value in params.items()}
    return EdgeWarning(code=code, params=shown, text=template.format(**shown))

"""The edge's configuration: one strict pydantic tree loaded from ``configs/cameras.yaml``.

Unknown keys are errors; every field is described; coordinates in config are normalised
0..1 points (x right, y down), never pixels.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ZoneKind = Literal["helmet_required", "no_smoking", "smoking_area", "mask"]
RuleName = Literal["no_helmet", "smoking"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(Strict):
    """A polygon on the camera image where a rule applies (or, for ``mask``, nothing does)."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="Zone id, unique per camera: lower-case letters, digits, _ and -.",
    )
    name: str = Field("", description="Human-readable name shown in the console.")
    kind: ZoneKind = Field(
        description=(
            "helmet_required: heads here must wear hard hats; no_smoking: no cigarettes here; "
            "smoking_area: a designated smoking point (never a smoking alert inside); "
            "mask: ignored area (nothing inside triggers any rule)."
        )
    )
    points: list[tuple[float, float]] = Field(
        min_length=3,
        description="Polygon corners as [x, y] normalised to 0..1 of the image width/height.",
    )

    @field_validator("points")
    @classmethod
    def _inside_unit_square(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        bad = [p for p in points if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0)]
        if bad:
            raise ValueError(
                f"points must be normalised 0..1 (fractions of width/height), got {bad}; "
                "divide pixel coordinates by the image size"
            )
        return points


class TimeWindow(Strict):
    """A daily window in the site's local time; ``end`` before ``start`` crosses midnight."""

    start: str = Field(description="Start, 24-hour HH:MM.")
    end: str = Field(description="End, 24-hour HH:MM.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected 24-hour HH:MM such as 07:30, got {value!r}")
        return value


class RuleConfig(Strict):
    """Settings of one rule. Site-level defaults are merged into each camera's rules."""

    enabled: bool = Field(True, description="Whether this rule raises alerts at all.")
    min_score: float = Field(
        0.4, ge=0.0, le=1.0, description="Minimum detector score for the evidence object."
    )
    dwell_s: float = Field(
        2.0,
        ge=0.0,
        le=600.0,
        description="Seconds a violation must persist on a track before an alert starts.",
    )
    cooldown_s: float = Field(
        60.0,
        ge=0.0,
        le=86400.0,
        description="Seconds after an alert ends during which the same "
        "track and rule start no new alert.",
    )
    active_hours: list[TimeWindow] | None = Field(
        None, description="Windows when the rule is active; absent = always."
    )


class Rules(Strict):
    """The rules of a camera (or the site defaults)."""

    no_helmet: RuleConfig = Field(
        default_factory=RuleConfig, description="A bare head inside a helmet_required zone."
    )
    smoking: RuleConfig = Field(
        default_factory=RuleConfig,
        description="A cigarette at a person inside a no_smoking zone "
        "and outside every smoking_area.",
    )

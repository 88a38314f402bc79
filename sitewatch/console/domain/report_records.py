"""The report record: what a day's or a week's report holds, as frozen dataclasses that
:mod:`reports` builds and :mod:`report_xlsx` and :mod:`report_pdf` render. Times are aware
datetimes (UTC unless a field says local), durations seconds, counts alert counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal

Period = Literal["day", "week"]
PERIOD_DAYS: Final[dict[Period, int]] = {"day": 1, "week": 7}


@dataclass(frozen=True)
class SiteWindow:
    """A site in the report and the UTC instants its local days span (``start <= t < end``)."""

    site_id: str
    name: str
    timezone: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CameraCount:
    site_id: str
    camera_id: str
    name: str
    count: int


@dataclass(frozen=True)
class Durations:
    """How long steps took, in seconds: how many, the median and the 90th percentile (linear
    interpolation, as the statistics page); None when none."""

    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True)
class OverdueAlert:
    """An alert not acknowledged in time; ``waited_min``: minutes until its acknowledgement (or
    until the report, if it has none); ``started_local``: in its site's zone."""

    alert_id: str
    site_id: str
    camera_id: str
    rule: str
    started_local: datetime
    state: str
    acknowledged: bool
    waited_min: float


@dataclass(frozen=True)
class OfflineCamera:
    site_id: str
    camera_id: str
    name: str
    state: str
    since: datetime | None  # the last status (UTC); None if none came
    error: str | None


@dataclass(frozen=True)
class Report:
    """A day's or a week's alerts of ``sites``; ``first_day`` is a local date of each site."""

    period: Period
    first_day: date
    days: int
    generated_at: datetime
    overdue_after_min: float
    sites: tuple[SiteWindow, ...]
    total: int
    incidents: int
    overdue_incidents: int
    by_camera: tuple[CameraCount, ...]  # most first
    by_rule: tuple[tuple[str, int], ...]  # most first
    by_hour: tuple[int, ...]  # 24 counts, each alert's local hour of its site
    by_day: tuple[tuple[date, int], ...]  # every local day of the period, in order
    by_state: tuple[tuple[str, int], ...]
    acknowledge: Durations
    close: Durations
    overdue: tuple[OverdueAlert, ...]  # oldest first
    offline: tuple[OfflineCamera, ...]

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

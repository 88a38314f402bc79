"""The statistics rollup's tables and the pure helpers its writers and its recount share:
the acknowledgement histogram's bins (seconds) and a site's local day (docs/design/stats-rollup.md).
Imported by :mod:`stats_rollup` (the flush listener) and :mod:`stats_rollup_build` (the recount),
so neither imports the other's module at load time."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sitewatch.console.store.db import Base

BINS_PER_OCTAVE = 4
"""Histogram resolution: bin k >= 1 holds [2**((k-1)/4), 2**(k/4)) seconds, a quarter octave
(each bin's upper edge is 19 % above its lower one); bin 0 holds [0, 1) s."""
LAST_BIN = 1 + 22 * BINS_PER_OCTAVE
"""Times of 2**22 s (48.5 days) and longer share the last bin."""


class AlertDay(Base):
    """Alerts of one site, local day, rule and state."""

    __tablename__ = "stats_alert_days"
    __table_args__ = (Index("ix_stats_alert_days_cover", "day", "rule", "site_id", "state", "n"),)
    """Day first, every column: a range of days is read from the index alone (migration 0018)."""
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class AckDay(Base):
    """Acknowledged alerts of one site and local day in one bin of time to acknowledge."""

    __tablename__ = "stats_ack_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)


class IncidentDay(Base):
    """Incidents of one site and local day (of their first alert's start) in one state."""

    __tablename__ = "stats_incident_days"
    __table_args__ = (Index("ix_stats_incident_days_cover", "day", "state", "n"),)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class AckAllDay(Base):
    """Acknowledged alerts of every site on one local day (each site's own) in one bin:
    :class:`AckDay` summed over sites. Invariant: ``n`` = the sum of ``AckDay.n`` of that day
    and bin."""

    __tablename__ = "stats_ack_all_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)


TABLES: dict[str, Any] = {"alert": AlertDay, "ack": AckDay, "ack_all": AckAllDay,
                          "incident": IncidentDay}  # fmt: skip
KEYS = {"alert": ("day", "site_id", "rule", "state"), "ack": ("day", "site_id", "bin"),
        "ack_all": ("day", "bin"), "incident": ("day", "site_id", "state")}  # fmt: skip
Key = tuple[str, tuple[Any, ...]]  # (table name, key values in KEYS order)


def ack_bin(seconds: float) -> int:
    """The histogram bin of a time to acknowledge (negative times count as 0)."""
    if seconds < 1:
        return 0
    return min(LAST_BIN, 1 + math.floor(BINS_PER_OCTAVE * math.log2(seconds)))


def bin_edges(k: int) -> tuple[float, float]:
    """Bin ``k``'s [low, high) seconds (the last bin's high: its low doubled)."""
    if k == 0:
        return 0.0, 1.0
    low = 2 ** ((k - 1) / BINS_PER_OCTAVE)
    return low, (2 * low if k == LAST_BIN else 2 ** (k / BINS_PER_OCTAVE))


def zone(name: str | None) -> ZoneInfo:
    """A site's zone: its IANA name, else UTC (as the exact statistics count)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).date().isoformat()

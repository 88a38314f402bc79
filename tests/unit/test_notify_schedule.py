"""When a scheduled report falls due (notify/schedule.py): literal local times, 08:00 the
report time. Daily: yesterday once 08:00 passed, else the day before. Weekly: last week
(Monday first) once Monday 08:00 passed, else the week before."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from sitewatch.console.notify.schedule import due_period

AT = time(8, 0)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("kind", "local", "first", "due"),
    [
        # Wednesday 2 Dec 2026
        ("daily", datetime(2026, 12, 2, 7, 59), date(2026, 11, 30), datetime(2026, 12, 1, 8)),
        ("daily", datetime(2026, 12, 2, 8, 0), date(2026, 12, 1), datetime(2026, 12, 2, 8)),
        ("daily", datetime(2026, 12, 2, 23, 59), date(2026, 12, 1), datetime(2026, 12, 2, 8)),
        # Monday 7 Dec 2026: last week is 30 Nov to 6 Dec
        ("weekly", datetime(2026, 12, 7, 7, 59), date(2026, 11, 23), datetime(2026, 11, 30, 8)),
        ("weekly", datetime(2026, 12, 7, 8, 0), date(2026, 11, 30), datetime(2026, 12, 7, 8)),
        # Sunday 13 Dec: still last week's (due since Monday)
        ("weekly", datetime(2026, 12, 13, 23, 0), date(2026, 11, 30), datetime(2026, 12, 7, 8)),
    ],
)
def test_the_period_due_and_when(kind: str, local: datetime, first: date, due: datetime) -> None:
    got_first, got_due = due_period(kind, local.replace(tzinfo=SHANGHAI), AT)
    assert got_first == first
    assert got_due == due.replace(tzinfo=SHANGHAI)
    assert got_first.weekday() == 0 or kind == "daily", "a week starts on Monday"

"""The ``hold`` action of VideoCommand (a legal hold on a recorded range), on literal commands:
what it needs, what the other actions may not carry, and that a command without a hold
encodes as before (no ``reason`` key), so an edge older than ``hold`` still reads it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sitewatch.console.video.holds import hold_problem
from sitewatch.contract import messages as m

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def command(**fields: Any) -> m.VideoCommand:
    base: dict[str, Any] = {
        "request_id": uuid.UUID(int=7),
        "site_id": "north",
        "camera_id": "gate",
        "upload_url": "https://console.example/api/edge/video/7",
        "expires_at": T0,
        "issued_by": "ana",
        "issued_at": T0,
    }
    return m.VideoCommand.model_validate({**base, **fields})


def test_a_hold_round_trips_and_a_live_command_has_no_reason_key() -> None:
    held = command(action="hold", start=T0 - 2 * DAY, end=T0, reason="case 17")
    assert m.decode(m.encode(held), m.VideoCommand) == held
    live = json.loads(m.encode(command(action="live")))
    assert "reason" not in live and live["action"] == "live"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"action": "hold", "start": T0 - DAY, "end": T0}, "needs a reason"),
        ({"action": "hold", "reason": "case 17"}, "needs start and end"),
        ({"action": "hold", "start": T0, "end": T0, "reason": "x"}, "more than 0"),
        ({"action": "hold", "start": T0 - 9 * DAY, "end": T0, "reason": "x"}, "691200"),
        ({"action": "hold", "start": T0 - DAY, "end": T0, "reason": ""}, "at least 1"),
        ({"action": "live", "reason": "case 17"}, "needs a reason, and only it"),
        ({"action": "range", "start": T0 - DAY, "end": T0}, "at most 3600"),
        ({"action": "stop", "start": T0 - DAY, "end": T0}, "'range' and 'hold' only"),
    ],
)
def test_refused_commands_say_why(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        command(**fields)


@pytest.mark.parametrize(
    ("start", "end", "reason", "problem"),
    [
        (100.0, 200.0, "case 17", None),
        (100.0, 100.0 + m.MAX_HOLD_S, "case 17", None),
        (200.0, 100.0, "case 17", "expected end after start"),
        (100.0, 101.0 + m.MAX_HOLD_S, "case 17", "at most 691200 s"),
        (100.0, 200.0, "   ", "expected a reason"),
        (100.0, 200.0, "x" * 501, "expected a reason"),
    ],
)
def test_the_console_checks_a_hold_before_sending(
    start: float, end: float, reason: str, problem: str | None
) -> None:
    got = hold_problem(start, end, reason)
    assert (got is None) if problem is None else (got is not None and problem in got)

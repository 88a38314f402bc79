"""The edge's video desk: which video commands it obeys (the console's signature, issued
within the age config commands may have) and which camera URL serves a stream. Pure: the
error parts it POSTs are in tests/component/test_edge_video_refusals.py, its live streams and
ranges in tests/component/test_edge_video_desk.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.video_desk import command_problem, stream_url

SITE = "demo-site"
CONSOLE, ATTACKER, EDGE = (Ed25519PrivateKey.generate() for _ in range(3))


def site_config(tmp_path: Path, **video: Any) -> SiteConfig:
    """cam1 (detect only), cam2 (detect and record), cam3 (disabled); the console's key."""
    return SiteConfig.model_validate(
        {
            "version": 1,
            "site": {"id": SITE, "name": "Demo", "timezone": "UTC"},
            "mqtt": {"host": "127.0.0.1"},
            "detector": {"model": str(tmp_path / "model.onnx")},
            "evidence": {"dir": str(tmp_path / "evidence")},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "trust": {"console_public_key": public_key_text(CONSOLE)},
            "video": video,
            "cameras": [
                {"id": "cam1", "detect": "rtsp://127.0.0.1:9/sub"},
                {"id": "cam2", "detect": "rtsp://cam2/sub", "record": "rtsp://cam2/main"},
                {"id": "cam3", "detect": "rtsp://cam3/sub", "enabled": False},
            ],
        }
    )


def command(
    url: str,
    action: str = "live",
    *,
    ago_s: float = 0.0,
    key: Ed25519PrivateKey | None = CONSOLE,
    **extra: Any,
) -> m.VideoCommand:
    now = datetime.now(UTC)
    if action == "range":
        extra.setdefault("start", now - timedelta(minutes=5))
        extra.setdefault("end", now - timedelta(minutes=4))
    fields: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "site_id": SITE,
        "camera_id": "cam1",
        "action": action,
        "upload_url": url,
        "expires_at": now + timedelta(seconds=30),
        "issued_by": "wang.admin",
        "issued_at": now - timedelta(seconds=ago_s),
    }
    fields.update(extra)
    cmd = m.VideoCommand.model_validate(fields)
    return cmd if key is None else sign(cmd, key)


def test_a_fresh_command_signed_by_the_console_passes() -> None:
    cmd = command("http://console/api/edge/video/x")
    assert command_problem(cmd, CONSOLE.public_key(), 300.0, datetime.now(UTC).timestamp()) is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: command("http://c/v", key=None), "got an unsigned one"),
        (lambda: command("http://c/v", key=ATTACKER), "does not match"),
        (
            lambda: command("http://c/v").model_copy(update={"upload_url": "http://evil/v"}),
            "does not match",
        ),
        (lambda: command("http://c/v", ago_s=301), "within the last 300 s"),
        (lambda: command("http://c/v", ago_s=-60), "at most 30 s ahead"),
    ],
    ids=["unsigned", "wrong-key", "tampered-url", "stale", "future"],
)
def test_a_command_not_signed_fresh_by_the_console_is_refused(
    make: Callable[[], m.VideoCommand], expected: str
) -> None:
    now = datetime.now(UTC).timestamp()
    problem = command_problem(make(), CONSOLE.public_key(), 300.0, now)
    assert problem is not None and expected in problem


def test_without_the_consoles_key_every_command_is_refused() -> None:
    problem = command_problem(command("http://c/v"), None, 300.0, 0.0)
    assert problem is not None and "trust.console_public_key" in problem


def test_the_record_stream_of_a_camera_without_one_is_its_detect_stream(tmp_path: Path) -> None:
    cam1, cam2, _ = site_config(tmp_path).cameras
    assert stream_url(cam1, "record") == stream_url(cam1, "detect") == "rtsp://127.0.0.1:9/sub"
    assert (stream_url(cam2, "detect"), stream_url(cam2, "record")) == (
        "rtsp://cam2/sub",
        "rtsp://cam2/main",
    )

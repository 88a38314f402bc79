"""What a live viewer and an uploading edge are told instead of video, over the real app and
SQLite (no broker: this console has no ingest): the edge offline (with since when), the camera
offline (with its error), no way to reach any edge, an upload too large, a range upload for a
request nobody made. docs/design/live-video.md, "Faults the viewer sees" and "Uploads"."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from sitewatch.console.store.models import BrokerAccount, Camera, Site
from sitewatch.contract.signing import public_key_text, sign_bytes, video_upload_text
from tests.support.console_support import Console, add_users, make_settings

SITE = "north"
LAST_SEEN = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """The console (no MQTT ingest) with video uploads bounded to 1 MiB (other requests to
    64 KiB); site north's edge
    key registered; cameras gate (online), dark (offline, its error) and a manager."""
    settings = make_settings(
        tmp_path,
        video_dir=tmp_path / "video",
        video_upload_max_bytes=1024 * 1024,
        max_request_bytes=64 * 1024,
    )
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        with console.state.db.session() as s:
            s.add(Site(id=SITE, name="North", edge_state="online", last_seen_at=LAST_SEEN))
            s.add(
                BrokerAccount(
                    username="edge-north", role="edge", site_id=SITE,
                    password_hash="$7$unused", public_key=public_key_text(KEY),
                )
            )  # fmt: skip
            s.flush()
            s.add(Camera(site_id=SITE, camera_id="gate", name="Gate", state="online"))
            s.add(Camera(site_id=SITE, camera_id="dark", name="Dark", state="offline",
                         error="RTSP: 401 Unauthorized"))  # fmt: skip
        add_users(console, ("li.wei", "manager", [SITE]))
        yield console


def _code(r: object) -> tuple[int, str, dict[str, object]]:
    body = r.json()  # type: ignore[attr-defined]
    return r.status_code, body["code"], body["params"]  # type: ignore[attr-defined]


def test_with_no_ingest_the_edge_cannot_be_asked(console: Console) -> None:
    viewer = console.login("li.wei")
    status, code, params = _code(viewer.get(f"/api/video/live/{SITE}/gate"))
    assert (status, code, params["site"]) == (503, "video.edge_offline", SITE)
    assert "no MQTT ingest" in viewer.get(f"/api/video/live/{SITE}/gate").json()["detail"]
    assert viewer.get(f"/api/video/live/{SITE}/gate/info").json()["session"] is None


def test_an_offline_edge_is_said_with_since_when(console: Console) -> None:
    with console.state.db.session() as s:
        site = s.get(Site, SITE)
        assert site is not None
        site.edge_state = "offline"
    viewer = console.login("li.wei")
    status, code, params = _code(viewer.get(f"/api/video/live/{SITE}/gate"))
    assert (status, code) == (503, "video.edge_offline")
    assert params["since"] == LAST_SEEN.timestamp()
    cameras = {c["camera_id"]: c for c in viewer.get("/api/video/cameras").json()}
    assert (cameras["gate"]["edge_state"], cameras["gate"]["state"]) == ("offline", "offline")
    assert cameras["gate"]["edge_since"] == LAST_SEEN.timestamp()


def test_an_offline_camera_is_said_with_its_error(console: Console) -> None:
    viewer = console.login("li.wei")
    status, code, params = _code(viewer.get(f"/api/video/live/{SITE}/dark"))
    assert (status, code, params["error"]) == (
        503,
        "video.camera_offline",
        "RTSP: 401 Unauthorized",
    )
    r = viewer.get(f"/api/video/live/{SITE}/gate?stream=record")  # gate has no main stream
    assert (r.status_code, r.json()["code"]) == (404, "scope.no_camera")
    r = viewer.get(f"/api/video/live/{SITE}/gate?stream=main")
    assert r.status_code == 422


def _upload(
    console: Console, part: str, body: bytes, *, request_id: str | None = None,
    key: Ed25519PrivateKey = KEY,
) -> object:  # fmt: skip
    request_id = request_id or str(uuid.uuid4())
    now = time.time()
    end = now + 60 if part == "range" else None
    text = video_upload_text(SITE, request_id, part, 0, now, end, now, body)  # type: ignore[arg-type]
    headers = {"X-SiteWatch-Site": SITE, "X-SiteWatch-Part": part, "X-SiteWatch-Seq": "0",
               "X-SiteWatch-Time": repr(now), "X-SiteWatch-Sent": repr(now),
               "X-SiteWatch-Signature": sign_bytes(text, key)}  # fmt: skip
    if end is not None:
        headers["X-SiteWatch-End"] = repr(end)
    return console.client.post(f"/api/edge/video/{request_id}", content=body, headers=headers)


def test_uploads_nobody_asked_for_are_told_to_stop(console: Console) -> None:
    status, code, _ = _code(_upload(console, "range", b"\x00\x00\x00\x08free"))
    assert (status, code) == (410, "video.session_over")
    status, code, _ = _code(_upload(console, "media", b"\x00\x00\x00\x08moof"))
    assert (status, code) == (410, "video.session_over")
    other = Ed25519PrivateKey.generate()
    status, code, _ = _code(_upload(console, "range", b"\x00\x00\x00\x08free", key=other))
    assert (status, code) == (401, "video.upload_refused")
    assert list((console.settings.video_dir / "incoming").iterdir()) == [], "temp files left"


def test_an_upload_over_its_limit_is_413_and_a_larger_one_than_other_requests_passes(
    console: Console,
) -> None:
    over = _upload(console, "range", bytes(1024 * 1024 + 1))
    assert over.status_code == 413  # type: ignore[attr-defined]
    assert "video_upload_max_bytes" in over.json()["detail"]  # type: ignore[attr-defined]
    # 1 MiB passes (other requests are bounded to 64 KiB: video uploads have their own limit)
    status, code, _ = _code(_upload(console, "range", bytes(1024 * 1024)))
    assert (status, code) == (410, "video.session_over")  # read, checked, then: no such request

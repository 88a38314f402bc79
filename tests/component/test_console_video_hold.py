"""Legal holds on a recorded range (issue 15): the real console on uvicorn, a real mosquitto,
a real SQLite file, and the real edge video desk with a real camera recording's hold store.

A manager's ``POST /api/video/holds`` becomes a signed ``hold`` VideoCommand; the desk puts
the hold in the camera's ``holds.json`` (which the ring never prunes past) and answers with a
signed ``held`` upload; the console then audits ``video.hold`` and lists the hold on the
camera's timeline. An operator may not (403), another site's manager sees no camera (404), a
bad range is refused before anything is sent (422), and a camera the edge does not run comes
back as the edge's ``camera_offline`` with nothing audited.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.console.ingest.context import ensure_camera
from sitewatch.console.store.models import AuditEntry
from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.video.holds import HoldStore
from sitewatch.edge.video.recording import CameraRecording
from sitewatch.edge.video.ring import Segment
from sitewatch.edge.video_desk import VideoDesk
from tests.component.test_console_playback import PREFIX, SITE, Served, _register, serve
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401

CAMERA, ELSEWHERE = "gate", "yard"  # the edge runs gate; the console also knows yard
NOW = float(int(time.time()))


@pytest.fixture
def served(tmp_path: Path, broker: Mosquitto) -> Iterator[Served]:
    with serve(tmp_path, broker) as console:
        yield console


@pytest.fixture
def recording(tmp_path: Path) -> CameraRecording:
    """Camera gate's recording at the edge (not started: only its rings and holds are used)."""
    return CameraRecording(
        CAMERA, "rtsp://192.0.2.1/sub", None, tmp_path / "edge" / "ring" / CAMERA,
        segment_s=2.0, keep_s={"detect": 3600.0},
    )  # fmt: skip


@pytest.fixture
def desk(
    served: Served, broker: Mosquitto, recording: CameraRecording, tmp_path: Path
) -> Iterator[VideoDesk]:
    """The edge's video desk for the site, its key registered at the console, subscribed."""
    key = Ed25519PrivateKey.generate()
    _register(served, key)
    with served.state.db.session() as s:
        ensure_camera(s, SITE, CAMERA)
        ensure_camera(s, SITE, ELSEWHERE)
    assert served.state.signing_key is not None
    config = SiteConfig.model_validate(
        {
            "version": 1,
            "site": {"id": SITE, "name": "North", "timezone": "UTC"},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "topic_prefix": PREFIX},
            "detector": {"model": str(tmp_path / "model.onnx")},
            "evidence": {"dir": str(tmp_path / "edge")},
            "outbox": {"path": str(tmp_path / "outbox.db")},
            "trust": {"console_public_key": public_key_text(served.state.signing_key)},
            "cameras": [{"id": CAMERA, "detect": "rtsp://192.0.2.1/sub"}],
        }
    )

    def hold(camera: str, hold_id: str, start: float, end: float, why: str) -> None:
        if camera != CAMERA:
            raise KeyError(f"camera {camera} is not running at this edge")
        recording.hold(hold_id, start, end, why)

    desk = VideoDesk(config, key, lambda c, s: [], tmp_path / "cuts", hold=hold)
    topic = m.video_command(PREFIX, SITE)
    edge = broker.transport(subscriptions={topic: desk.receive})
    assert edge.wait_connected(10.0)
    deadline = time.monotonic() + 10.0
    while desk.refused == 0:  # probes until one reaches the desk: the subscription is live
        assert time.monotonic() < deadline, "the desk's subscription never became live"
        edge.publish(topic, b"probe").wait(1.0)
        time.sleep(0.1)
    try:
        yield desk
    finally:
        desk.stop()
        edge.close()


def test_a_manager_puts_a_legal_hold_the_edge_keeps(
    served: Served, desk: VideoDesk, recording: CameraRecording
) -> None:
    served.add_users(("ana", "manager", [SITE]), ("olga", "operator", [SITE]),
                     ("bob", "manager", ["south"]))  # fmt: skip
    ana, olga, bob = served.client("ana"), served.client("olga"), served.client("bob")
    start, end = NOW - 7200, NOW - 3600
    body = {"site_id": SITE, "camera_id": CAMERA, "start": start, "end": end,
            "reason": "police case 17, officer Li"}  # fmt: skip

    assert olga.post("/api/video/holds", json=body).status_code == 403
    hidden = bob.post("/api/video/holds", json=body)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "scope.no_site")
    backwards = ana.post("/api/video/holds", json={**body, "end": start - 1})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "video.range_invalid")
    too_long = ana.post("/api/video/holds", json={**body, "end": start + 9 * 86400})
    assert (too_long.status_code, too_long.json()["code"]) == (422, "video.range_invalid")
    assert ana.post("/api/video/holds", json={**body, "reason": ""}).status_code == 422

    made = ana.post("/api/video/holds", json=body)
    assert made.status_code == 201, made.text
    held = made.json()
    assert (held["start"], held["end"]) == (start, end)
    assert held["reason"] == "police case 17, officer Li (asked by ana at the console)"

    # the edge keeps it in the holds file beside the ring: a new store reads it, the ring
    # refuses to delete a segment inside it
    legal = [h for h in HoldStore(recording.rings["detect"].directory).spans()]
    assert [(h.id, h.kind, h.start, h.end) for h in legal] == [(held["id"], "legal", start, end)]
    inside = Segment(recording.rings["detect"].directory / "r1-000001.ts", start + 60, 2.0, 1)
    assert recording.rings["detect"].is_pinned(inside)
    with pytest.raises(ValueError, match="on hold"):
        recording.rings["detect"].delete(inside)

    # audited on the camera, and listed on the camera's timeline (for those who may see it)
    rows = served.rows(AuditEntry, AuditEntry.action == "video.hold")
    assert [(r.username, r.object_type, r.object_id) for r in rows] == [
        ("ana", "camera", f"{SITE}/{CAMERA}")
    ]
    assert rows[0].detail_key == "video_hold" and rows[0].detail_params is not None
    assert rows[0].detail_params["hold"] == held["id"]
    line = olga.get(f"/api/video/timeline/{SITE}/{CAMERA}?from={NOW - 86400}&to={NOW}").json()
    assert [(x["id"], x["start"], x["end"], x["by"]) for x in line["holds"]] == [
        (held["id"], start, end, "ana")
    ]
    outside = olga.get(f"/api/video/timeline/{SITE}/{CAMERA}?from={NOW - 1800}&to={NOW}")
    assert outside.json()["holds"] == []

    # a camera the console knows but the edge does not run: the edge's answer, nothing audited
    lost = ana.post("/api/video/holds", json={**body, "camera_id": ELSEWHERE})
    assert (lost.status_code, lost.json()["code"]) == (503, "video.camera_offline"), lost.text
    assert len(served.rows(AuditEntry, AuditEntry.action == "video.hold")) == 1

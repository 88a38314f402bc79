"""Fixtures for console tests: a real database (SQLite file, or PostgreSQL), the app, users.

from tests.support.console_support import console_fixture, login  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from sitewatch.console.domain.users import create_user
from sitewatch.console.settings import Settings

PASSWORD = "correct-horse-battery"


class Seedable(Protocol):
    """A console to seed rows into: :class:`Console`, or a served one (browser_support)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def state(self) -> Any: ...


@dataclass
class Console:
    settings: Settings
    client: TestClient

    @property
    def state(self) -> Any:
        """The app's AppState (database, hub)."""
        return self.client.app.state.sitewatch  # type: ignore[attr-defined]

    def add_user(self, username: str, role: str, sites: list[str], language: str = "en") -> None:
        state = self.client.app.state.sitewatch  # type: ignore[attr-defined]
        with state.db.session() as s:
            create_user(s, username, PASSWORD, role, sites, language)

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A new client logged in as ``username``, sending the ``X-CSRF-Token`` header that
        state-changing requests need (any value: see
        ``sitewatch.console.api.deps.check_request_origin``)."""
        c = TestClient(self.client.app)
        r = c.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = "console"
        return c


def make_settings(tmp_path: Path, database_url: str | None = None, **extra: object) -> Settings:
    extra.setdefault("signing_key_file", tmp_path / "console.key")
    return Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'console.db'}",
        evidence_dir=tmp_path / "evidence",
        mqtt_host=None,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(name="console")
def console_fixture(tmp_path: Path) -> Iterator[Console]:
    """The console on a fresh SQLite file, no MQTT ingest."""
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        yield Console(settings, client)


# --- seeding alerts the way ingest stores them (ORM rows + verified files on disk) ---

from datetime import UTC, datetime, timedelta  # noqa: E402


def jpeg_bytes(text: str = "SiteWatch", size: tuple[int, int] = (320, 240)) -> bytes:
    """A real JPEG (a grey frame with ``text``), as an edge snapshot would be."""
    import cv2
    import numpy as np

    img = np.full((size[1], size[0], 3), 90, np.uint8)
    cv2.putText(img, text, (10, size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok, "cv2 could not encode a JPEG"
    return bytes(buf.tobytes())


def clip_bytes(folder: Path, seconds: int = 3) -> bytes:
    """A playable H.264 MP4 (faststart) made by ffmpeg from its test pattern."""
    import subprocess

    out = folder / "clip.mp4"
    if not out.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             "testsrc=size=320x240:rate=10", "-t", str(seconds), "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
            check=True, timeout=120,
        )  # fmt: skip
    return out.read_bytes()


def seed_alert(
    console: Seedable,
    site: str = "north",
    camera: str = "gate",
    *,
    rule: str = "no_helmet",
    started_at: datetime | None = None,
    received_at: datetime | None = None,
    state: str = "new",
    acknowledged_at: datetime | None = None,
    closed_at: datetime | None = None,
    files: list[tuple[str, str, str, bytes]] | None = None,
    events: int = 2,
) -> str:
    """Store an alert as MQTT ingest would: Site and Camera rows if missing, the Alert, its
    timeline (``events`` messages, the last one ``end``), and evidence ``files`` as
    ``(name, kind, content_type, bytes)`` written to ``<evidence_dir>/<site>/<id>/<name>``
    with their real SHA-256 (status ``stored``). Returns the alert id."""
    import hashlib
    import uuid

    from sitewatch.console.store.models import Alert, AlertEventRow, Camera, Evidence, Site

    state_ = console.state
    alert_id = str(uuid.uuid4())
    started = started_at or datetime.now(UTC) - timedelta(minutes=5)
    received = received_at or started + timedelta(seconds=1)
    last_seen = started + timedelta(seconds=max(events - 1, 0) * 2)
    with state_.db.session() as s:
        if s.get(Site, site) is None:
            s.add(Site(id=site, name=site.title(), edge_state="online", last_seen_at=received))
        if s.get(Camera, (site, camera)) is None:
            s.add(Camera(site_id=site, camera_id=camera, name=camera.title(), state="online"))
        s.flush()
        s.add(
            Alert(
                id=alert_id, site_id=site, camera_id=camera, rule=rule, track_id=7,
                zone_id="whole", label="head" if rule == "no_helmet" else "cigarette",
                score=0.87, box=[0.1, 0.2, 0.3, 0.5], started_at=started, last_seen_at=last_seen,
                ended_at=last_seen if events > 1 else None,
                event="end" if events > 1 else "start", seq=events - 1, config_version="v1",
                state=state, received_at=received, updated_at=received,
                acknowledged_at=acknowledged_at, closed_at=closed_at,
            )
        )  # fmt: skip
        s.flush()
        for seq in range(events):
            event = "start" if seq == 0 else "end" if seq == events - 1 else "update"
            at = started + timedelta(seconds=2 * seq)
            s.add(
                AlertEventRow(
                    alert_id=alert_id, seq=seq, event=event, score=0.8 + seq / 100,
                    box=[0.1, 0.2, 0.3, 0.5], last_seen_at=at, sent_at=at,
                    received_at=at + timedelta(seconds=1), payload={"seq": seq, "event": event},
                )
            )  # fmt: skip
        for name, kind, content_type, data in files or []:
            path = console.settings.evidence_dir / site / alert_id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            s.add(
                Evidence(
                    alert_id=alert_id, name=name, kind=kind,
                    sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                    content_type=content_type, duration_s=3.0 if kind == "clip" else None,
                    status="stored", path=str(path.resolve()), stored_at=received,
                )
            )  # fmt: skip
    return alert_id


_PASSWORD_HASH: list[str] = []


def add_users(
    console: Console, *users: tuple[str, str, list[str]] | tuple[str, str, list[str], list[str]]
) -> None:
    """Add ``(username, role, sites)`` users (or ``(username, role, sites, cameras)``: limited
    to those "site/camera" entries) with :data:`PASSWORD`, hashed once per test session
    (argon2 is slow on purpose; many tests need several users)."""
    from sitewatch.console.domain.security import hash_password
    from sitewatch.console.store.models import User

    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        for username, role, sites, *cameras in users:
            s.add(
                User(
                    username=username, password_hash=_PASSWORD_HASH[0], role=role,
                    language="en", sites=sites, cameras=cameras[0] if cameras else None,
                    active=True,
                )
            )  # fmt: skip

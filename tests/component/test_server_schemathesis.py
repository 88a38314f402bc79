"""Property-based run of schemathesis over the console's OpenAPI document: every operation,
logged in as an admin, with seeded alerts, evidence, cameras and a real MQTT ingest (so
config changes really go out): no 500s, and 2xx bodies match the documented schemas.

Bounded: 12 examples per operation and mode (about a minute on 2 cores), derandomized so a
failure reproduces. ``/api/events`` and the live video stream are left out (endless streams,
the second needs an edge to answer: each case would wait for its 504; both have their own
tests) and so is logout (it would end the session the run uses). Cases go through our own
TestClient with ``raise_server_exceptions=False``: schemathesis' ASGI transport let an
exception raised by a route pass as success, and its pytest plugin (``from_fixture``) does not
run on pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import select, update

from sitewatch.console.app import create_app
from sitewatch.console.domain.security import new_token, token_hash
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, Camera, User, WebSession
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.ingest_support import live_console
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401


@pytest.fixture
def app_console(tmp_path: Path, broker: Mosquitto) -> Iterator[Console]:
    with live_console(tmp_path, broker) as console:
        add_users(console, ("admin", "admin", ["*"]), ("li.wei", "manager", ["north"]))
        files = [
            ("clip.mp4", "clip", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(2000)),
            ("snapshot.jpg", "snapshot", "image/jpeg", jpeg_bytes()),
        ]
        t = datetime.now(UTC) - timedelta(days=1)
        seed_alert(console, "north", "gate", files=files, started_at=t)
        seed_alert(console, "north", "gate", rule="smoking", state="resolved", started_at=t)
        seed_alert(console, "south", "crane", files=files, state="false_positive")
        snap = console.settings.evidence_dir / "_cameras" / "north" / "gate.jpg"
        snap.parent.mkdir(parents=True)
        snap.write_bytes(jpeg_bytes("gate"))
        with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
            cam = s.get(Camera, ("north", "gate"))
            cam.snapshot_path, cam.config_version = str(snap), "v1"
            cam.zones, cam.rules = [], {}
        yield console


def admin_headers(console: Console) -> dict[str, str]:
    """A fresh admin session for every case: a generated case may demote, disable or change
    the password of the admin, which ends its sessions (the API working as it should)."""
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    token, csrf = new_token(), new_token()
    now = datetime.now(UTC)
    with state.db.session() as s:
        s.execute(
            update(User)
            .where(User.username == "admin")
            .values(role="admin", active=True, sites=["*"])
        )
        user_id = s.query(User.id).filter(User.username == "admin").scalar()
        s.add(
            WebSession(
                token_hash=token_hash(token), user_id=user_id, csrf_token=csrf,
                created_at=now, expires_at=now + timedelta(hours=1),
            )
        )  # fmt: skip
    return {"Cookie": f"sw_session={token}; sw_csrf={csrf}", "X-CSRF-Token": csrf}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, read from the app without starting it."""
    app = create_app(Settings(database_url="sqlite://", mqtt_host=None))
    return [
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if path not in SKIP
    ]


SKIP = {"/api/events", "/api/auth/logout", "/api/video/live/{site}/{camera}"}


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_server_errors(
    app_console: Console, method: str, path: str, mode: GenerationMode
) -> None:
    """Positive cases (valid by the schema) and negative ones (invalid on purpose)."""
    app = app_console.client.app
    # from the document itself: from_asgi would start the app's lifespan a second time, and
    # that second MQTT ingest (same client id) makes the broker drop the first one (503s)
    operation = schemathesis.openapi.from_dict(app.openapi())[path][method]
    # our own client: a crash must come back as a 500 for the check to see it
    client = TestClient(app, raise_server_exceptions=False)
    real = _real_path_values(app_console)

    @given(case=operation.as_strategy(mode), use_real=st.booleans())
    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any, use_real: bool) -> None:
        if use_real:  # half the cases address things that exist
            for key in case.path_parameters or {}:
                case.path_parameters[key] = real.get(key, case.path_parameters[key])
        kwargs = case.as_transport_kwargs(
            base_url="http://testserver", headers=admin_headers(app_console)
        )
        # the document's session scheme makes schemathesis send a cookie of its own: the run's
        # logged-in session goes in admin_headers instead
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), str | bytes):  # raw (invalid) bodies of negative cases
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**kwargs)
        case.validate_response(
            response,
            checks=[not_a_server_error, response_schema_conformance],
            transport_kwargs=kwargs,
        )

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip(f"{method} {path} takes no input that can be made invalid")


def _real_path_values(console: Console) -> dict[str, str]:
    with console.client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
        alert_id = s.scalars(select(Alert.id).where(Alert.site_id == "north")).first()
    assert alert_id is not None
    return {
        "alert_id": alert_id, "name": "snapshot.jpg", "site": "north", "camera": "gate",
        "site_id": "north", "camera_id": "gate", "username": "li.wei",
    }  # fmt: skip

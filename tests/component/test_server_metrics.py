"""Prometheus metrics: off by default, a bearer token when on, the numbers a scraper needs."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from sitewatch.console.app import create_app
from sitewatch.console.store.models import Camera, Site
from tests.support.console_support import Console, console_fixture, make_settings, seed_alert  # noqa: F401

TOKEN = "scrape-me-please-0123456789"


def test_metrics_are_off_unless_a_token_is_set(console: Console) -> None:
    r = console.client.get("/metrics")
    assert r.status_code == 404 and "SITEWATCH_METRICS_TOKEN" in r.json()["detail"]


def test_metrics_need_the_token_and_report_alerts_cameras_and_edges(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        seed_alert(console, "north", "gate")
        seed_alert(console, "north", "gate")
        seed_alert(console, "north", "crane", state="resolved")
        seed_alert(console, "south", "yard", rule="smoking")
        with client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
            s.get(Site, "south").edge_state = "offline"
            s.get(Site, "north").stats = {"disk_hours_left": 5.5, "outbox_depth": 3}
            s.get(Camera, ("north", "gate")).state = "online"
            s.get(Camera, ("south", "yard")).state = "online"  # but its edge is offline
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        lines = set(r.text.splitlines())
    assert 'sitewatch_alerts_open{site="north",camera="gate",rule="no_helmet"} 2' in lines
    assert 'sitewatch_alerts_open{site="south",camera="yard",rule="smoking"} 1' in lines
    assert not any(x.startswith('sitewatch_alerts_open{site="north",camera="crane"') for x in lines)
    assert 'sitewatch_camera_up{site="north",camera="gate"} 1' in lines
    assert 'sitewatch_camera_up{site="south",camera="yard"} 0' in lines
    assert 'sitewatch_edge_up{site="south"} 0' in lines
    assert 'sitewatch_edge_disk_hours_left{site="north"} 5.5' in lines
    assert 'sitewatch_edge_outbox_depth{site="north"} 3' in lines
    assert "sitewatch_ingest_connected 0" in lines

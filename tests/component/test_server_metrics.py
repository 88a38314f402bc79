"""Prometheus metrics: off by default, a bearer token when on, conventional names and base units
(parsed back with prometheus_client's own parsers), ingest counts that add up on a real
mosquitto, and each edge's numbers per camera as its status and stats messages left them."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from sitewatch import __version__
from sitewatch.console.app import create_app
from sitewatch.console.store.models import Camera, Site
from sitewatch.contract import messages as m
from tests.support.console_support import Console, console_fixture, make_settings, seed_alert  # noqa: F401
from tests.support.ingest_support import (
    PREFIX,
    T0,
    alert,
    database_locked,
    edge_of,
    live_console,
    wait_for,
)
from tests.support.mqtt_broker import Mosquitto, broker_fixture  # noqa: F401

TOKEN = "scrape-me-please-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(client: TestClient) -> dict[str, Metric]:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(families: dict[str, Metric], sample: str, **labels: str) -> float | None:
    """The value of the sample named ``sample`` with exactly ``labels``; None if absent."""
    family = families.get(sample) or families[sample.removesuffix("_total")]
    found = [x.value for x in family.samples if x.name == sample and x.labels == labels]
    assert len(found) <= 1, f"{sample}{labels} appears {len(found)} times"
    return found[0] if found else None


def outcomes_add_up(f: dict[str, Metric]) -> tuple[float, float, float, float | None]:
    """(received, handled, dropped, queued), checking received = handled + dropped + queued."""
    received = value(f, "sitewatch_ingest_messages_received_total")
    handled = value(f, "sitewatch_ingest_messages_total", outcome="handled")
    dropped = value(f, "sitewatch_ingest_messages_total", outcome="dropped")
    queued = value(f, "sitewatch_ingest_queue_messages")
    assert received is not None and handled is not None and dropped is not None
    outcomes = sum(x.value for x in f["sitewatch_ingest_messages"].samples)
    assert outcomes + (queued or 0) == received, (received, outcomes, queued)
    return received, handled, dropped, queued


def test_metrics_are_off_unless_a_token_is_set(console: Console) -> None:
    r = console.client.get("/metrics")
    assert r.status_code == 404 and "SITEWATCH_METRICS_TOKEN" in r.json()["detail"]
    assert r.json()["code"] == "metrics.off"
    assert r.json()["params"] == {"variable": "SITEWATCH_METRICS_TOKEN"}


def test_metrics_refuse_a_missing_or_wrong_token(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, metrics_token=TOKEN))) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "metrics.token"
            assert r.headers["www-authenticate"] == "Bearer"


def test_names_types_and_units_follow_prometheus_conventions(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, metrics_token=TOKEN))) as client:
        f = scrape(client)
        r = client.get("/metrics", headers={**AUTH, "Accept": OPENMETRICS})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")
    parsed = openmetrics_families(r.text)  # type: ignore[no-untyped-call]  # untyped there
    units = {x.name: x.unit for x in parsed}
    assert units["sitewatch_ingest_lag_seconds"] == "seconds"
    assert units["sitewatch_edge_inference_seconds"] == "seconds"
    for family in f.values():
        assert family.name.startswith("sitewatch_")
        assert not any(x in family.name for x in ("_ms", "millis", "_depth")), family.name
        if family.type == "counter":  # the family's name has no _total; its samples do
            assert all(x.name == family.name + "_total" for x in family.samples), family.name
    types = {name: family.type for name, family in f.items()}
    assert types["sitewatch_ingest_messages"] == "counter"
    assert types["sitewatch_ingest_messages_received"] == "counter"
    assert types["sitewatch_camera_frames_dropped"] == "counter"
    assert types["sitewatch_camera_reconnects"] == "counter"
    assert types["sitewatch_camera_fps_in"] == "gauge"
    assert types["sitewatch_ingest_lag_seconds"] == "gauge"
    assert types["sitewatch_edge_disk_hours_left"] == "gauge"
    assert types["sitewatch_edge_outbox_messages"] == "gauge"
    build = f["sitewatch_build_info"].samples  # an info metric is a gauge in this format
    assert len(build) == 1 and build[0].labels["version"] == __version__ and build[0].value == 1
    # no ingest (no broker set): every count is 0, nothing waits
    assert outcomes_add_up(f) == (0, 0, 0, 0)
    assert value(f, "sitewatch_ingest_lag_seconds") == 0
    assert value(f, "sitewatch_ingest_connected") == 0


def test_alerts_cameras_and_edges_as_ingest_stored_them(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    with TestClient(create_app(settings)) as client:
        console = Console(settings, client)
        seed_alert(console, "north", "gate")
        seed_alert(console, "north", "gate")
        seed_alert(console, "north", "crane", state="resolved")
        seed_alert(console, "south", "yard", rule="smoking")
        stats = {"inference_ms_p50": 40.0, "inference_ms_p95": 80.0, "outbox_depth": 3}
        with client.app.state.sitewatch.db.session() as s:  # type: ignore[attr-defined]
            s.get(Site, "north").stats = {**stats, "disk_hours_left": 5.5}
            s.get(Site, "south").stats = {**stats, "disk_hours_left": None}
            s.get(Site, "south").edge_state = "offline"
            gate = s.get(Camera, ("north", "gate"))
            gate.state, gate.fps_in, gate.fps_analysed = "online", 12.5, 4.0
            gate.frames_dropped, gate.reconnects, gate.status_at = 3, 1, T0
            yard = s.get(Camera, ("south", "yard"))  # online, but its edge is offline
            yard.state, yard.fps_in, yard.frames_dropped, yard.status_at = "online", 9.0, 7, T0
        f = scrape(client)
    north, south = {"site": "north"}, {"site": "south"}
    assert value(f, "sitewatch_alerts_open", camera="gate", rule="no_helmet", **north) == 2
    assert value(f, "sitewatch_alerts_open", camera="yard", rule="smoking", **south) == 1
    assert value(f, "sitewatch_alerts_open", camera="crane", rule="no_helmet", **north) is None
    gate_, yard_, crane = (
        {"site": "north", "camera": "gate"},
        {"site": "south", "camera": "yard"},
        {"site": "north", "camera": "crane"},
    )
    assert value(f, "sitewatch_camera_up", **gate_) == 1
    assert value(f, "sitewatch_camera_up", **yard_) == 0
    assert value(f, "sitewatch_camera_fps_in", **gate_) == 12.5
    assert value(f, "sitewatch_camera_fps_analysed", **gate_) == 4.0
    assert value(f, "sitewatch_camera_frames_dropped_total", **gate_) == 3
    assert value(f, "sitewatch_camera_reconnects_total", **gate_) == 1
    # an offline edge's gauges would be stale: left out; its counters stay
    assert value(f, "sitewatch_camera_fps_in", **yard_) is None
    assert value(f, "sitewatch_camera_frames_dropped_total", **yard_) == 7
    # a camera with no status yet has measured nothing
    assert value(f, "sitewatch_camera_fps_in", **crane) is None
    assert value(f, "sitewatch_camera_frames_dropped_total", **crane) is None
    assert value(f, "sitewatch_edge_up", **north) == 1
    assert value(f, "sitewatch_edge_up", **south) == 0
    assert value(f, "sitewatch_edge_inference_seconds", quantile="0.5", **north) == 0.04
    assert value(f, "sitewatch_edge_inference_seconds", quantile="0.95", **north) == 0.08
    assert value(f, "sitewatch_edge_disk_hours_left", **north) == 5.5
    assert value(f, "sitewatch_edge_outbox_messages", **north) == 3
    for name in ("sitewatch_edge_disk_hours_left", "sitewatch_edge_outbox_messages"):
        assert value(f, name, **south) is None
    assert value(f, "sitewatch_edge_inference_seconds", quantile="0.5", **south) is None


def test_ingest_counts_add_up_and_lag_grows_while_the_worker_waits(
    tmp_path: Path, broker: Mosquitto
) -> None:
    with (
        # ingest_batch=1: the worker takes one message at a time (a batch takes what waits)
        live_console(
            tmp_path, broker, metrics_token=TOKEN, ingest_queue_messages=3, ingest_batch=1
        ) as console,
        edge_of(broker) as edge,
    ):
        with database_locked(console):
            for _ in range(4):  # QoS 1: the worker takes one and waits, 3 fill the queue
                edge.alert(alert(uuid.uuid4(), 0))  # (a 4th would wait at the broker)
            for _ in range(2):  # QoS 0 beyond the queue's bound of 3: dropped
                assert edge.transport.publish(m.stats(PREFIX, "north"), b"{}", qos=0).wait(10)
            wait_for("6 received", lambda: console.ingest.received == 6)
            time.sleep(0.5)
            f = scrape(console.client)
            assert outcomes_add_up(f) == (6, 0, 2, 4)
            lag = value(f, "sitewatch_ingest_lag_seconds")
            assert lag is not None and 0.5 <= lag < 30, lag
            assert value(f, "sitewatch_ingest_connected") == 1
        console.settle(4)
        f = scrape(console.client)
    assert outcomes_add_up(f) == (6, 4, 2, 0)
    assert value(f, "sitewatch_ingest_lag_seconds") == 0
    assert value(f, "sitewatch_ingest_refusals_total") == 0


def test_camera_and_edge_numbers_come_from_the_edges_messages(
    tmp_path: Path, broker: Mosquitto
) -> None:
    status = m.EdgeStatus(
        site_id="north",
        state="online",
        software_version="1.4.0",
        config_version="3",
        started_at=T0,
        cameras=1,
        at=T0,
    )
    camera = m.CameraStatus.model_validate(
        {
            "site_id": "north",
            "camera_id": "gate",
            "state": "online",
            "fps_in": 12.5,
            "fps_analysed": 4.0,
            "frames_dropped": 30,
            "reconnects": 2,
            "last_frame_at": T0,
            "at": T0 + timedelta(seconds=1),
        }
    )
    stats = m.EdgeStats(
        site_id="north",
        at=T0 + timedelta(seconds=2),
        interval_s=60.0,
        cameras=[],
        batches=120,
        batch_size_mean=1.5,
        inference_ms_p50=42.0,
        inference_ms_p95=95.0,
        frames_dropped_stale=2,
        outbox_depth=7,
        disk_hours_left=30.5,
    )
    with (
        live_console(tmp_path, broker, metrics_token=TOKEN) as console,
        edge_of(broker) as edge,
    ):
        edge.send(m.edge_status(PREFIX, "north"), m.encode(status), retain=True)
        edge.send(m.camera_status(PREFIX, "north", "gate"), m.encode(camera), retain=True)
        edge.send(m.stats(PREFIX, "north"), m.encode(stats))
        console.settle(3)
        f = scrape(console.client)
    gate, north = {"site": "north", "camera": "gate"}, {"site": "north"}
    assert value(f, "sitewatch_camera_up", **gate) == 1
    assert value(f, "sitewatch_camera_fps_in", **gate) == 12.5
    assert value(f, "sitewatch_camera_fps_analysed", **gate) == 4.0
    assert value(f, "sitewatch_camera_frames_dropped_total", **gate) == 30
    assert value(f, "sitewatch_camera_reconnects_total", **gate) == 2
    assert value(f, "sitewatch_edge_up", **north) == 1
    assert value(f, "sitewatch_edge_inference_seconds", quantile="0.5", **north) == 0.042
    assert value(f, "sitewatch_edge_inference_seconds", quantile="0.95", **north) == 0.095
    assert value(f, "sitewatch_edge_outbox_messages", **north) == 7
    assert value(f, "sitewatch_edge_disk_hours_left", **north) == 30.5
    assert outcomes_add_up(f) == (3, 3, 0, 0)
    assert value(f, "sitewatch_ingest_refusals_total") == 0

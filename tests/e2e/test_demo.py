"""`make demo` as a user runs it (samples/demo.py): sample cameras over RTSP, mosquitto, the
edge worker and the console; the printed login works and the gate camera's alerts reach the
console with their evidence. The broker refuses anonymous clients and runs the per-site ACL
that add-edge wrote; the edge signs what it sends (the console refuses unsigned messages of a
registered site, so the alerts arriving shows it). Its state goes to a temporary folder
($SITEWATCH_DEMO_VAR)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.rtsp_server import _check_gstreamer

REPO = Path(__file__).resolve().parents[2]
SECONDS = 75

pytestmark = pytest.mark.slow


def test_demo_prints_a_login_and_alerts_reach_the_console(shared: Path, tmp_path: Path) -> None:
    _check_gstreamer()
    env = {**os.environ, "SITEWATCH_DEMO_VAR": str(tmp_path), "SITEWATCH_SHARED": str(shared)}
    port = str(_free_port())
    cmd = [sys.executable, "samples/demo.py", "--seconds", str(SECONDS), "--console-port", port]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "demo: console at" in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(240), "the demo printed no console URL:\n" + "".join(lines[-30:])
        line = next(x for x in lines if "demo: console at" in x)
        match = re.search(r"console at (http://\S+)\s.*password (\S+)\)", line)
        assert match, line
        url, password = match[1], match[2]
        broker = re.search(r"demo: mosquitto on 127\.0\.0\.1:(\d+)", "".join(lines))
        assert broker, "".join(lines)
        assert _refused_anonymous(int(broker[1])), "the demo's broker let an anonymous client in"
        with httpx.Client(base_url=url, timeout=10) as client:
            r = client.post("/api/auth/login", json={"username": "manager", "password": password})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + SECONDS
            alerts: list[dict[str, object]] = []
            while time.monotonic() < deadline and not alerts:
                r = client.get("/api/alerts", params={"camera": "cam-gate"})
                if r.status_code == 200:
                    alerts = r.json()["items"]
                time.sleep(1)
            assert alerts, "no alert of the gate camera reached the console:\n" + "".join(lines)
            detail = client.get(f"/api/alerts/{alerts[0]['id']}").json()
            assert detail["rule"] == "no_helmet"
            assert {e["kind"] for e in detail["evidence"] if e["status"] == "stored"} >= {
                "snapshot",
                "snapshot_clean",
            }
            _live_and_timeline(client, deadline + 30)
        assert proc.wait(SECONDS + 120) == 0, "".join(lines[-30:])
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        reader.join(5)
    out = "".join(lines)
    assert "ALERT start  cam-gate" in out
    assert (tmp_path / "console" / "console.db").is_file()
    assert any((tmp_path / "evidence").rglob("*.mp4")), "no clip under $SITEWATCH_DEMO_VAR"
    conf = (tmp_path / "demo" / "broker" / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf
    assert f"acl_file {tmp_path / 'demo' / 'broker' / 'acl'}" in conf
    acl = (tmp_path / "demo" / "broker" / "acl").read_text()
    assert "user edge-demo-site\ntopic write sitewatch/demo-site/alerts\n" in acl
    derived = yaml.safe_load((tmp_path / "demo" / "cameras.yaml").read_text())
    assert derived["mqtt"]["username_env"] == "SITEWATCH_EDGE_MQTT_USERNAME"
    assert derived["trust"]["console_public_key"]
    assert derived["trust"]["key_file"] == str(tmp_path / "demo" / "edge" / "edge.key")


def _live_and_timeline(client: httpx.Client, deadline: float) -> None:
    """The demo's cameras are listed for live view, the gate plays live (fragmented MP4 from
    the edge through the console) and its timeline shows what the edge recorded."""
    cameras = client.get("/api/video/cameras").json()
    gate = next(c for c in cameras if c["camera_id"] == "cam-gate")
    site = gate["site_id"]
    with client.stream("GET", f"/api/video/live/{site}/cam-gate", timeout=30) as live:
        assert live.status_code == 200, live.read()
        assert live.headers["x-sitewatch-mime"].startswith("video/mp4")
        head = b""
        for chunk in live.iter_bytes():
            head += chunk
            if len(head) > 4096:
                break
        assert head[4:8] == b"ftyp" and b"moof" in head, head[:64]
    spans: list[object] = []
    while time.monotonic() < deadline and not spans:
        spans = client.get(f"/api/video/timeline/{site}/cam-gate").json()["spans"]
        time.sleep(2)
    assert spans, "the gate camera's timeline shows no recording"


def _refused_anonymous(port: int) -> bool:
    """Whether the broker answers an anonymous CONNECT with a refusal."""
    answer: list[bool] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-test-anonymous")

    def on_connect(c: mqtt.Client, u: object, f: object, reason: object, p: object) -> None:
        answer.append(bool(getattr(reason, "is_failure", True)))
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10.0), f"no CONNACK from the demo's broker on {port}"
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

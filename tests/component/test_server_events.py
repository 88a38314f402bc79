"""The live event stream (Server-Sent Events) through a real uvicorn: events of the user's
sites only, kinds the role may read only, pings, and a clean end when the server stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from sitewatch.console.api.routes import events as events_route
from sitewatch.console.events import LiveEvent
from tests.support.console_support import PASSWORD, Console, add_users, console_fixture, seed_alert  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _login(base: str, username: str, timeout: float = 20.0) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=httpx.Timeout(timeout))
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = "console"  # see sitewatch.console.api.deps.check_request_origin
    return c


def _messages(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) per SSE message; ("comment", text) per comment line."""
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and data:
            yield event, data
            event, data = "message", ""


@pytest.fixture
def served(console: Console) -> Iterator[str]:
    """The console's app served by uvicorn in a thread; its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(console.client.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "uvicorn did not stop: a stream was left open"


def test_a_user_gets_the_events_of_their_sites_only(console: Console, served: str) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("zhou.min", "police", ["north"]))
    hub = console.client.app.state.sitewatch.hub  # type: ignore[attr-defined]
    for username, expected in (
        ("li.wei", [("camera", "north/gate"), ("alert", "north-1")]),
        ("zhou.min", [("alert", "north-1")]),  # police may not read cameras
    ):
        c = _login(served, username)
        with c.stream("GET", "/api/events") as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            got = _messages(r)
            assert next(got) == ("comment", "connected")  # subscribed: publish now
            hub.publish(LiveEvent("alert", "south", {"id": "south-1", "site_id": "south"}))
            hub.publish(LiveEvent("camera", "north", {"site_id": "north", "camera_id": "gate"}))
            hub.publish(LiveEvent("alert", "north", {"id": "north-1", "site_id": "north"}))
            seen: list[tuple[str, str]] = []
            for kind, data in got:
                body = json.loads(data)
                seen.append((kind, body.get("id") or f"{body['site_id']}/{body['camera_id']}"))
                if kind == "alert":
                    break
            assert seen == expected
        c.close()


def test_an_action_is_pushed_and_a_quiet_stream_pings(
    console: Console, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_route, "PING_SECONDS", 0.2)
    add_users(console, ("li.wei", "manager", ["north"]))
    alert_id = seed_alert(console)
    watcher, actor = _login(served, "li.wei"), _login(served, "li.wei")
    with watcher.stream("GET", "/api/events") as r:
        got = _messages(r)
        assert next(got) == ("comment", "connected")
        assert next(got) == ("comment", "ping")
        r2 = actor.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge"})
        assert r2.status_code == 200
        kind, data = next(m for m in got if m[0] != "comment")
        body = json.loads(data)
        assert kind == "alert" and body["id"] == alert_id and body["state"] == "acknowledged"
        assert "timeline" not in body  # the AlertOut, not the detail


def test_a_stream_without_login_is_refused(console: Console, served: str) -> None:
    r = httpx.get(f"{served}/api/events")
    assert r.status_code == 401


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_open_streams_end_when_the_server_stops(
    console: Console, tmp_path: Path, sig: signal.Signals
) -> None:
    """``sitewatch server`` (uvicorn) with a browser's stream open stops at once on a signal:
    uvicorn waits for open responses, so a stream that did not end would hold it forever."""
    add_users(console, ("li.wei", "manager", ["north"]), ("admin", "admin", ["*"]))
    north, south = seed_alert(console, "north"), seed_alert(console, "south", "crane")
    port = _free_port()
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": console.settings.database_url,
        "SITEWATCH_EVIDENCE_DIR": str(console.settings.evidence_dir),
        "SITEWATCH_MQTT_HOST": "",
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, sitewatch.cli; sys.exit(sitewatch.cli.main())",
         "server", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        while True:  # start-up: migrations, then listening
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        # a stream still open 5 s after the signal fails the test (ReadTimeout) instead of
        # hanging it: the first ping would only come after 15 s
        watcher, admin = _login(base, "li.wei", timeout=5.0), _login(base, "admin")
        with watcher.stream("GET", "/api/events") as r:
            got = _messages(r)
            assert next(got) == ("comment", "connected")
            for alert_id in (south, north):  # the south one is not li.wei's: never arrives
                a = admin.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge"})
                assert a.status_code == 200, a.text
            kind, data = next(m for m in got if m[0] != "comment")
            assert (kind, json.loads(data)["id"]) == ("alert", north)
            proc.send_signal(sig)
            rest = list(got)  # ends when the server closes the stream
            assert all(kind == "comment" for kind, _ in rest), rest
        # uvicorn re-raises the signal once it has shut down cleanly (see the log check)
        assert proc.wait(timeout=30) in (0, -sig)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert "timeout graceful shutdown exceeded" not in text
    assert "Application shutdown complete" in text, text[-2000:]

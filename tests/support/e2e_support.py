"""Helpers for the end-to-end edge tests: the model, the config, an MQTT collector, alert checks.

Real services only: mosquitto (``mqtt_broker``), gst-rtsp-server (``rtsp_server``), ffmpeg, the
real ONNX model. The model comes from one place, :func:`e2e_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

from sitewatch.contract import messages as m
from sitewatch.contract.signing import load_key, public_key_text, sign, verify
from sitewatch.edge.detect.model import open_model

REPO = Path(__file__).resolve().parents[2]
MODEL_ENV = "SITEWATCH_MODEL"
FINAL_MODEL = REPO / "models" / "sitewatch.onnx"
DEV_MODEL = REPO / "build" / "dev_stage1.onnx"
SITE = "e2e-site"
PREFIX = "sitewatch"
CONSOLE_KEY = Ed25519PrivateKey.generate()
"""The console of the tests: it signs their config commands; the edges know its public key."""


def e2e_model() -> Path:
    """``$SITEWATCH_MODEL``, else models/sitewatch.onnx when it exists, else the dev model."""
    env = os.environ.get(MODEL_ENV)
    path = Path(env) if env else FINAL_MODEL if FINAL_MODEL.is_file() else DEV_MODEL
    path = path if path.is_absolute() else REPO / path
    if not path.is_file():
        pytest.fail(f"no model for the end-to-end tests: {path} not found (set {MODEL_ENV})")
    return path


def model_labels(path: Path) -> tuple[str, ...]:
    return open_model(path, threads=1, optimization="disable")[1].labels


def needs_cigarette() -> pytest.MarkDecorator:
    model = e2e_model()
    return pytest.mark.skipif(
        "cigarette" not in model_labels(model),
        reason=f"the model {model.name} has no 'cigarette' label; the smoking tests need the "
        "final 4-label model (models/sitewatch.onnx or $SITEWATCH_MODEL)",
    )


# -- config -------------------------------------------------------------------------------------

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def zone(zone_id: str, kind: str, points: list[list[float]]) -> dict[str, Any]:
    return {"id": zone_id, "kind": kind, "points": points}


def camera(cam_id: str, url: str, zones: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": cam_id, "detect": url, "stall_s": 3, "zones": zones, **extra}


def write_config(
    folder: Path,
    port: int,
    cameras: list[dict[str, Any]],
    *,
    model: Path | None = None,
    console_public_key: str | None = None,
) -> Path:
    """An edge config for the tests: short dwell, pre/post-roll 4 s, 1-s segments; the edge
    takes commands signed by ``console_public_key`` (default: :data:`CONSOLE_KEY`'s) and
    keeps its own key in ``folder/edge.key`` (:func:`edge_public_key`)."""
    rule = {"min_score": 0.3, "dwell_s": 1, "cooldown_s": 120}
    data = {
        "version": 1,
        "site": {"id": SITE, "name": "end-to-end tests", "timezone": "UTC"},
        "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": PREFIX, "keepalive_s": 5},
        "detector": {
            "model": str(model or e2e_model()),
            "max_batch": 8,
            "batch_deadline_ms": 100,
            "threads": 2,
        },
        "evidence": {
            "dir": str(folder / "var"),
            "pre_roll_s": 4,
            "post_roll_s": 4,
            "segment_s": 1,
            "min_free_hours": 0,
        },
        "outbox": {"path": str(folder / "var" / "outbox.sqlite")},
        "defaults": {"detect_fps": 2, "rules": {"no_helmet": rule, "smoking": rule}},
        "cameras": cameras,
        "trust": {
            "key_file": str(folder / "edge.key"),
            "console_public_key": console_public_key or public_key_text(CONSOLE_KEY),
        },
    }
    path = folder / "cameras.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- MQTT ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # monotonic


@dataclass
class Collector:
    """A plain paho client subscribed to everything of the test site; keeps what arrives."""

    port: int
    persistent: bool = False
    client_id: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:10]}")
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=not self.persistent
        )
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            pytest.fail(f"the test collector could not subscribe on port {self.port}")

    def _connected(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(f"{PREFIX}/{SITE}/#", qos=1)

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                Received(msg.topic, bytes(msg.payload), msg.retain, time.monotonic())
            )
            self._cond.notify_all()

    def snapshot(self) -> list[Received]:
        with self._cond:
            return list(self.messages)

    def wait(self, what: str, found: Callable[[list[Received]], bool], timeout_s: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: found(self.messages), timeout_s):
                topics = sorted({r.topic for r in self.messages})
                pytest.fail(f"waited {timeout_s:g} s for {what}; got messages on {topics}")

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def alerts(received: list[Received], camera: str | None = None) -> list[m.AlertEvent]:
    out = [m.decode(r.payload, m.AlertEvent) for r in received if r.topic.endswith("/alerts")]
    return [a for a in out if camera is None or a.camera_id == camera]


def camera_states(received: list[Received], camera_id: str) -> list[m.CameraStatus]:
    """One camera's statuses, in arrival order."""
    topic = m.camera_status(PREFIX, SITE, camera_id)
    return [m.decode(r.payload, m.CameraStatus) for r in received if r.topic == topic]


def edge_states(received: list[Received]) -> list[m.EdgeStatus]:
    """The edge's statuses (its last will too), in arrival order."""
    topic = m.edge_status(PREFIX, SITE)
    return [m.decode(r.payload, m.EdgeStatus) for r in received if r.topic == topic]


def dedupe(events: list[m.AlertEvent]) -> dict[str, list[m.AlertEvent]]:
    """Alert id -> its messages, a repeated (id, seq) dropped, by seq (as the console does)."""
    by_id: dict[str, dict[int, m.AlertEvent]] = {}
    for event in events:
        by_id.setdefault(str(event.id), {}).setdefault(event.seq, event)
    return {k: [v[s] for s in sorted(v)] for k, v in by_id.items()}


def check_evidence_first(received: list[Received], alert_id: str) -> dict[str, bytes]:
    """Every evidence file an alert message lists arrived before it, with the listed SHA-256
    and size; returns name -> bytes."""
    files: dict[str, bytes] = {}
    prefix = f"{PREFIX}/{SITE}/evidence/{alert_id}/"
    for r in received:
        if r.topic.startswith(prefix):
            files[r.topic.removeprefix(prefix)] = r.payload
        elif r.topic.endswith("/alerts"):
            event = m.decode(r.payload, m.AlertEvent)
            if str(event.id) != alert_id:
                continue
            for f in event.evidence:
                assert f.name in files, f"{f.name} listed in seq {event.seq} before its bytes came"
                data = files[f.name]
                assert hashlib.sha256(data).hexdigest() == f.sha256, f"{f.name}: SHA-256 differs"
                assert len(data) == f.size_bytes, f"{f.name}: size differs"
    return files


def probe_clip(data: bytes, folder: Path) -> tuple[str, float, Path]:
    """(codec, duration, the file) of clip bytes, saved into ``folder``."""
    path = folder / f"clip-{hashlib.sha256(data).hexdigest()[:8]}.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "json",
         "-show_entries", "stream=codec_name:format=duration", str(path)],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    info = json.loads(out.stdout)
    return str(info["streams"][0]["codec_name"]), float(info["format"]["duration"]), path


def edge_public_key(config: Path) -> Ed25519PublicKey:
    """The public key of the edge that runs ``config`` (written by :func:`write_config`)."""
    return load_key(config.with_name("edge.key")).public_key()


def signed_by(key: Ed25519PublicKey, received: list[Received]) -> list[str]:
    """Topics of the edge's messages in ``received`` that do not carry ``key``'s signature
    (evidence bytes and snapshots are not messages: their hashes travel in signed ones; the
    console's commands are the console's)."""
    bad = []
    for r in received:
        if "/evidence/" in r.topic or r.topic.endswith(("/snapshot", "/config/set")):
            continue
        if not verify(m.decode(r.payload), key):
            bad.append(r.topic)
    return bad


def config_command(
    camera_id: str,
    base_version: str,
    zones: list[dict[str, Any]],
    *,
    rules: dict[str, dict[str, Any]] | None = None,
    key: Ed25519PrivateKey | None = CONSOLE_KEY,
) -> m.ConfigCommand:
    """A command signed by ``key`` (the tests' console key; None: unsigned)."""
    from datetime import UTC, datetime

    cmd = m.ConfigCommand(
        request_id=uuid.uuid4(),
        site_id=SITE,
        camera_id=camera_id,
        base_version=base_version,
        issued_by="e2e-test",
        issued_at=datetime.now(UTC),
        zones=[m.ZoneSpec.model_validate(z) for z in zones],
        rules=rules,
    )
    return cmd if key is None else sign(cmd, key)


def poll(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(every_s)


class InProcessWorker:
    """An ``EdgeWorker`` run in this process: ``start()`` and the main loop in a thread."""

    def __init__(self, config: Path) -> None:
        from sitewatch.edge.worker import EdgeWorker

        self.worker = EdgeWorker(config)
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.worker.start()
        self.thread = threading.Thread(target=self._loop, name="e2e-main-loop", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            self.worker.main_loop()
        except BaseException as exc:
            self.error = exc
            raise

    def stop(self) -> None:
        self.worker.stop_event.set()
        self.thread.join(30)
        self.worker.shutdown()
        assert not self.thread.is_alive(), "the main loop did not stop within 30 s"
        assert self.error is None, f"the main loop died: {self.error!r}"


class EdgeProcess:
    """``sitewatch edge --config FILE`` as a subprocess, its log in ``log``."""

    def __init__(self, config: Path) -> None:
        import sys

        self.log = config.with_name("edge.log")
        exe = Path(sys.executable).with_name("sitewatch")
        cmd = [str(exe), "edge", "--config", str(config), "--log-level", "INFO"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def terminate(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took); fails if it takes longer than ``timeout_s``."""
        began = time.monotonic()
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the edge did not exit within {timeout_s:g} s of SIGTERM:\n{self.tail()}")
        return code, time.monotonic() - began

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """After a failed test: SIGTERM (so it stops its ffmpeg recorders), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text`` (e.g. a recorder's folder)."""
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if text in line:
            found.append(line)
    return found

"""The demo: sample clips as RTSP cameras, a broker, the edge worker, and its alerts printed.

    .venv/bin/python samples/demo.py                      # ../shared/clips, until Ctrl-C
    .venv/bin/python samples/demo.py --seconds 60         # a bounded run (smoke test)
    .venv/bin/python samples/demo.py --clip yard=site.mp4 --clip gate=gate.mp4
    .venv/bin/python samples/demo.py --rtsp gate=rtsp://192.0.2.10:554/sub

What it starts, and stops again in reverse order:

1. the cameras: each clip is re-encoded once (cached in build/streams/) into what an IP camera
   sends, a 640x360 sub-stream and a 1920x1080 main stream, and served in a loop by
   samples/rtsp_server.py (port 8554, or a free one). With ../shared/clips the cameras are
   those of configs/cameras.yaml (``factory-sub``/``factory-main``, ``smoking-sub``/
   ``smoking-main``, and ``gate-sub``/``gate-main``, whose clip is composed at run time from
   hard-hat val photos the model reads as a bare head, then a hard hat); clips or RTSP URLs of
   your own each become a camera with the whole view as a hard-hat zone and a no-smoking zone;
2. the site's identities, as an operator makes them: ``sitewatch server add-edge SITE`` writes
   the edge's key and broker login (var/demo/edge/) and the broker's password and ACL files
   (var/demo/broker/); mosquitto runs on the config's port (1883, or a free one) with them and
   ``allow_anonymous false``: the edge may publish only its own site's topics, only the
   console may command it;
3. ``sitewatch edge`` on a config derived from configs/cameras.yaml (var/demo/cameras.yaml:
   ports, model, cameras, broker login variables and the ``trust`` keys filled in; the zones
   and cameras the console changed are kept across runs, samples/demo_config.py);
4. the console (``sitewatch server`` on SQLite under var/console/, port 8080 or a free one)
   with one login per role, whose password is new on every run and printed;
5. a subscriber to everything under the topic prefix that prints one line per alert message
   and per camera state change.

Ctrl-C (or the end of ``--seconds``) sends SIGTERM to the worker, which ends open alerts,
finishes their clips and flushes its outbox; then the broker and the cameras stop. Logs:
var/demo/edge.log and var/demo/rtsp_server.log; evidence: var/evidence/.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import demo_config
import paho.mqtt.client as mqtt
import yaml
from console_demo import DEMO_USERS, start_console
from demo_identities import DemoIdentities, register
from make_streams import build_stream
from paho.mqtt.enums import CallbackAPIVersion

from sitewatch.contract import messages as m
from sitewatch.edge.config.load import ConfigError, load_config_with_warnings

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SITEWATCH_SHARED", REPO.parent / "shared"))
VAR_ENV = "SITEWATCH_DEMO_VAR"
VAR = Path(os.environ.get(VAR_ENV, REPO / "var"))
"""Where the demo keeps its state: var/ of the checkout, or $SITEWATCH_DEMO_VAR (the tests)."""
STATE = VAR / "demo"
STREAMS = REPO / "build" / "streams"
SYSTEM_PYTHON = "/usr/bin/python3"  # GStreamer's bindings are Debian's, not the venv's
DEMO_CAMERAS = {"factory": "factory_floor_cctv.mp4", "smoking": "smoking_scene_short.mp4"}
"""Mount base name in configs/cameras.yaml -> sample clip in ../shared/clips."""
COMPOSED_CAMERA = "gate"
"""Mount base name of the camera whose clip is composed from ../shared/datasets/hardhat val
images at run time (bench/violation_clip.py): a bare head for 6 s, then a hard hat for 6 s."""
DEFAULT_CONSOLE_PORT = 8080
DEFAULT_RTSP_PORT = 8554
READY_TIMEOUT_S = 20.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
STOP_WORKER_S = 90.0
"""The worker may wait post_roll_s + 30 s for clips and 10 s for the outbox before it exits."""


class DemoError(Exception):
    """Something the user has to fix; the message says what."""


# -- what to serve and which config to run ------------------------------------------------------


def _named(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:  # a bare path: the camera is named after the file
        name, value = Path(text).stem, text
    ident = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:40]
    if not ident or not value:
        raise argparse.ArgumentTypeError(f"expected NAME={what}, got {text!r}")
    return ident, value


def parse_clip(text: str) -> tuple[str, str]:
    name, path = _named(text, "FILE")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"no clip file {path!r} (for camera {name!r})")
    return name, str(Path(path).resolve())


def parse_rtsp(text: str) -> tuple[str, str]:
    name, url = _named(text, "URL")
    if not url.startswith(("rtsp://", "rtsps://")):
        raise argparse.ArgumentTypeError(f"expected NAME=rtsp://..., got {text!r}")
    return name, url


def sample_cameras(raw: Any) -> list[str]:
    """The sample cameras (keys of DEMO_CAMERAS) whose streams the raw config reads."""
    pattern = re.compile(rf"^rtsp://127\.0\.0\.1:{DEFAULT_RTSP_PORT}/(\w+)-(?:sub|main)$")
    used: list[str] = []
    for cam in raw.get("cameras", []) if isinstance(raw, dict) else []:
        for key in ("detect", "record"):
            found = pattern.match(str(cam.get(key, "")))
            known = found and (found[1] in DEMO_CAMERAS or found[1] == COMPOSED_CAMERA)
            if found and known and found[1] not in used:
                used.append(found[1])
    return used


def build_mounts(clips: dict[str, Path]) -> dict[str, Path]:
    """Mount name -> built file: ``<name>-sub`` and ``<name>-main`` per clip."""
    mounts: dict[str, Path] = {}
    for name, clip in clips.items():
        for variant in ("sub", "main"):
            print(f"demo: stream {name}-{variant} from {clip.name} (built once, then cached)")
            try:
                mounts[f"{name}-{variant}"] = build_stream(clip, STREAMS, variant)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise DemoError(f"cannot build the {variant} stream of {clip}: {exc}") from exc
    return mounts


def own_cameras(clips: dict[str, str], rtsp: dict[str, str], port: int) -> list[dict[str, Any]]:
    """Cameras for the user's clips and URLs: the whole view must wear hard hats, no smoking."""
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    cameras = []
    for name in [*clips, *rtsp]:
        cam: dict[str, Any] = {"id": name, "name": name}
        if name in clips:
            cam["detect"] = f"rtsp://127.0.0.1:{port}/{name}-sub"
            cam["record"] = f"rtsp://127.0.0.1:{port}/{name}-main"
        else:
            cam["detect"] = rtsp[name]  # recorded from the same stream
        cam["zones"] = [
            {"id": "hard-hats", "name": "Whole view", "kind": "helmet_required", "points": whole},
            {"id": "no-smoking", "name": "Whole view", "kind": "no_smoking", "points": whole},
        ]
        cameras.append(cam)
    return cameras


def derive_config(
    base: Path,
    cameras: list[dict[str, Any]] | None,
    rtsp_port: int,
    mqtt_port: int,
    model: Path,
    identity: dict[str, Any] | None = None,
) -> Path:
    """Write var/demo/cameras.yaml: ``base`` with absolute paths, the ports and the model, and
    ``identity`` (add-edge's ``mqtt`` login variables and ``trust`` keys) merged in; the
    version and cameras of an earlier run's file from the same source are kept
    (samples/demo_config.py)."""
    base_text = base.read_text(encoding="utf-8")
    raw = yaml.safe_load(base_text)
    if not isinstance(raw, dict):
        raise DemoError(f"{base} is not a SiteWatch config (a YAML mapping)")
    folder = base.resolve().parent
    for section, key in (("evidence", "dir"), ("outbox", "path")):
        value = raw.get(section, {}).get(key)
        if isinstance(value, str):
            raw[section][key] = os.path.normpath(folder / value)
    if VAR_ENV in os.environ:  # everything the demo writes goes there
        raw.setdefault("evidence", {})["dir"] = str(VAR / "evidence")
        raw.setdefault("outbox", {})["path"] = str(VAR / "outbox.sqlite")
    raw.setdefault("detector", {})["model"] = str(model)
    raw.setdefault("mqtt", {})["port"] = mqtt_port
    for section, values in (identity or {}).items():
        raw[section] = {**(raw.get(section) or {}), **values}
    if cameras is not None:
        raw["cameras"] = cameras
    elif rtsp_port != DEFAULT_RTSP_PORT:  # the demo cameras moved to a free port
        for cam in raw.get("cameras", []):
            for key in ("detect", "record"):
                url = cam.get(key)
                if isinstance(url, str):
                    cam[key] = url.replace(
                        f"rtsp://127.0.0.1:{DEFAULT_RTSP_PORT}/", f"rtsp://127.0.0.1:{rtsp_port}/"
                    )
    STATE.mkdir(parents=True, exist_ok=True)
    out = STATE / "cameras.yaml"
    source = demo_config.fingerprint(base_text, cameras)
    keep, note = demo_config.kept(out, source)
    if note:
        print(f"demo: {note}")
    if keep:
        raw["version"] = keep["version"]
        raw["cameras"] = demo_config.with_port(keep["cameras"], rtsp_port)
        print(f"demo: edge config {out} kept from the last run (version {keep['version']})")
    head = (
        f"# Written by samples/demo.py from {base}; the console's changes are kept across runs"
        " (delete this file to start again from that one).\n"
    )
    out.write_text(head + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), "utf-8")
    demo_config.stamp(out, source)
    try:
        _, warnings = load_config_with_warnings(out)
    except ConfigError as exc:
        problems = "\n".join(f"  {p}" for p in exc.problems)
        raise DemoError(f"the demo config is not valid:\n{problems}") from exc
    for warning in warnings:
        print(f"demo: config {warning}")
    return out


# -- processes -----------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(
    proc: subprocess.Popen[bytes], what: str, timeout_s: float = 10.0, kill: int = signal.SIGKILL
) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            print(f"demo: {what} did not stop within {timeout_s:g} s; killing it")
            proc.send_signal(kill)
            proc.wait()


def start_rtsp_server(mounts: dict[str, Path], port: int, stack: ExitStack) -> None:
    log = (STATE / "rtsp_server.log").open("wb")
    stack.callback(log.close)
    cmd = [SYSTEM_PYTHON, str(REPO / "samples" / "rtsp_server.py"), "--port", str(port)]
    cmd += [arg for name, path in mounts.items() for arg in ("--mount", f"{name}={path}")]
    # own session: Ctrl-C reaches only the demo, which stops everything in order
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    stack.callback(_stop, proc, "the RTSP server")
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        readable, _, _ = select.select([proc.stdout], [], [], 0.2)
        if readable and proc.stdout.readline().strip() == b"ready":
            print(f"demo: cameras at rtsp://127.0.0.1:{port}/ {', '.join(mounts)}")
            return
    raise DemoError(
        f"the RTSP server did not start (see {STATE / 'rtsp_server.log'}); it needs GStreamer's "
        f"RTSP server for {SYSTEM_PYTHON} (Debian packages: run `make system-deps`)"
    )


def ensure_broker(host: str, port: int, ids: DemoIdentities, stack: ExitStack) -> int:
    """The port of the broker: a mosquitto started here with the demo's password and ACL files
    (on a free port if ``port`` is taken), or the remote one the config names."""
    if host not in LOCAL_HOSTS:
        print(
            f"demo: using the broker {host}:{port} named in the config: it must run with "
            f"password_file {ids.password_file} and acl_file {ids.acl_file}"
        )
        return port
    sbin = "/usr/sbin:/usr/local/sbin"  # not on a normal user's PATH
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path=sbin)
    if binary is None:
        raise DemoError("mosquitto is not installed: run `make system-deps` (Debian: mosquitto)")
    if not _port_free(port):  # another broker, which does not know the demo's accounts
        print(f"demo: port {port} is taken; the demo's broker takes a free one")
        port = _free_port()
    lines = [f"listener {port} 127.0.0.1", "persistence false", "allow_anonymous false"]
    lines += [f"password_file {ids.password_file}", f"acl_file {ids.acl_file}"]
    # the console's persistent session keeps what arrives while it restarts: not only the
    # default 1000 messages (a production broker needs the same)
    lines.append("max_queued_messages 100000")
    # no message larger than the console keeps, QoS 1 in its hands bounded in bytes (README)
    lines += ["message_size_limit 67108864", "max_inflight_bytes 134217728"]
    if os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to a user that may not exist here
    conf = STATE / "broker" / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    log = (STATE / "mosquitto.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.callback(_stop, proc, "mosquitto")
    deadline = time.monotonic() + 10.0
    while not _listening("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DemoError(
                f"mosquitto did not start on port {port}: see {STATE / 'mosquitto.log'}"
            )
        time.sleep(0.05)
    print(f"demo: mosquitto on 127.0.0.1:{port} (no anonymous clients; per-site ACL {conf})")
    return port


def start_worker(config: Path, stack: ExitStack) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "sitewatch"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "sitewatch.cli"]
    log = (STATE / "edge.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [*cmd, "edge", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT: every thread's stack to the log
    )
    stack.callback(_stop, proc, "the edge worker", STOP_WORKER_S, signal.SIGABRT)
    print(f"demo: edge worker started (pid {proc.pid}); its log: {STATE / 'edge.log'}")
    return proc


# -- what arrives at the broker ------------------------------------------------------------------


class Printer:
    """One readable line per alert message, camera state change and stats report."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.lock = threading.Lock()
        self.states: dict[str, str] = {}
        self.counts: Counter[str] = Counter()

    def _time(self) -> str:
        # receive time: a last will's own time is when it was set, not when it was sent
        return datetime.now(self.tz).strftime("%H:%M:%S")

    def _out(self, line: str) -> None:
        with self.lock:
            print(line, flush=True)

    def __call__(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/snapshot"):  # a camera's latest frame, for the zone editor
            return
        if "/evidence/" in msg.topic:
            alert_id, name = msg.topic.rsplit("/", 2)[-2:]
            self.counts["evidence files"] += 1
            size = f"{len(msg.payload) / 1e3:.0f} kB"
            self._out(f"{'':>8}  evidence {alert_id[:8]}  {_short(name, alert_id)} ({size})")
            return
        try:
            message = m.decode(bytes(msg.payload))
        except m.ContractError as exc:
            self._out(f"demo: not a SiteWatch message on {msg.topic}: {exc}")
            return
        old = " (retained, from before)" if msg.retain else ""
        if isinstance(message, m.AlertEvent):
            self.counts[f"alert {message.event}"] += 1
            names = ", ".join(_short(f.name, str(message.id)) for f in message.evidence) or "-"
            self._out(
                f"{self._time()}  ALERT {message.event:<6} {message.camera_id:<12} "
                f"{message.rule:<9} {message.label} {message.score:.2f}  zone {message.zone_id}  "
                f"track {message.track_id}  id {str(message.id)[:8]}  evidence: {names}{old}"
            )
        elif isinstance(message, m.CameraStatus):
            if self.states.get(message.camera_id) == message.state and not old:
                return
            self.states[message.camera_id] = message.state
            if not old:
                self.counts[f"camera {message.state}"] += 1
            why = f"  ({message.error})" if message.error else ""
            self._out(
                f"{self._time()}  camera {message.camera_id:<12} {message.state:<8} "
                f"fps in {message.fps_in:.1f}, analysed {message.fps_analysed:.1f}{why}{old}"
            )
        elif isinstance(message, m.EdgeStatus):
            self._out(
                f"{self._time()}  edge {message.site_id} {message.state} "
                f"(config version {message.config_version}, {message.cameras} cameras){old}"
            )
        elif isinstance(message, m.EdgeStats):
            cams = ", ".join(f"{c.camera_id} {c.fps_analysed:.1f} fps" for c in message.cameras)
            self._out(
                f"{self._time()}  stats: {message.batches} batches of "
                f"{message.batch_size_mean:.1f}, inference p50 {message.inference_ms_p50:.0f} ms "
                f"p95 {message.inference_ms_p95:.0f} ms, stale drops "
                f"{message.frames_dropped_stale}, outbox {message.outbox_depth}; {cams}"
            )


def _short(name: str, alert_id: str) -> str:
    """``<alert id>_snapshot.jpg`` -> ``snapshot.jpg``: the id is on the line already."""
    return name.removeprefix(f"{alert_id}_")


def subscribe(
    host: str, port: int, prefix: str, login: tuple[str, str], printer: Printer, stack: ExitStack
) -> None:
    """Print what arrives, as the console's identity (the only one that may read every site)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"sitewatch-demo-{os.getpid()}", clean_session=True
    )
    client.username_pw_set(*login)
    client.on_message = printer

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        c.subscribe(f"{prefix}/#", qos=1)

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    stack.callback(client.loop_stop)
    stack.callback(client.disconnect)


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--clip", type=parse_clip, action="append", default=[], metavar="NAME=FILE",
        help="serve FILE as camera NAME (repeatable); replaces the ../shared sample cameras",
    )  # fmt: skip
    ap.add_argument(
        "--rtsp", type=parse_rtsp, action="append", default=[], metavar="NAME=URL",
        help="analyse the RTSP camera at URL as camera NAME (repeatable)",
    )  # fmt: skip
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "cameras.yaml")
    ap.add_argument("--model", type=Path, help="ONNX model instead of the config's detector.model")
    ap.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    ap.add_argument(
        "--console-port",
        type=int,
        default=DEFAULT_CONSOLE_PORT,
        help="port of the web console (a free one if taken); 0 = no console",
    )
    args = ap.parse_args(argv)

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        with ExitStack() as stack:
            return run(args, stopping, stack)
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2


def model_of(args: argparse.Namespace) -> Path:
    base = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    model = args.model or (args.config.resolve().parent / base["detector"]["model"]).resolve()
    if not Path(model).is_file():
        raise DemoError(
            f"no model at {model}: it ships as models/sitewatch.onnx (`make train` rebuilds "
            "it); or pass --model FILE.onnx"
        )
    return Path(model)


def composed_clip(model: Path) -> Path:
    """The gate camera's clip, composed from hard-hat val images that this model reads as a
    bare head (and then a hard hat): real detections on real photos, in a loop."""
    if not (SHARED / "datasets" / "hardhat").is_dir():
        raise DemoError(f"no {SHARED / 'datasets' / 'hardhat'} for the composed gate camera")
    sys.path.insert(0, str(REPO))
    from bench.violation_clip import build_clip, choose_scenes
    from sitewatch.edge.detect.detector import Detector

    print("demo: composing the gate camera's clip from hard-hat val images (cached)")
    bare, calm, what = choose_scenes(Detector(model, conf=0.25, second_look=False), 0.5)
    print(f"demo: gate camera: {what}")
    return build_clip(bare, calm)


def run(args: argparse.Namespace, stopping: threading.Event, stack: ExitStack) -> int:
    clips, rtsp = dict(args.clip), dict(args.rtsp)
    base = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    if clips or rtsp:
        sources = {name: Path(path) for name, path in clips.items()}
    else:  # the sample clips behind the demo cameras the config names
        used = sample_cameras(base)
        samples = [b for b in used if b in DEMO_CAMERAS]
        missing = [
            DEMO_CAMERAS[b] for b in samples if not (SHARED / "clips" / DEMO_CAMERAS[b]).is_file()
        ]
        if missing:
            raise DemoError(
                f"no sample clips {', '.join(missing)} in {SHARED / 'clips'}: put ../shared "
                "beside the checkout (or set SITEWATCH_SHARED), or name your own cameras: "
                "--clip NAME=FILE.mp4 or --rtsp NAME=rtsp://... "
                "(make demo CLIP=FILE.mp4, or make demo ARGS='--rtsp NAME=URL')"
            )
        sources = {b: SHARED / "clips" / DEMO_CAMERAS[b] for b in samples}
        if COMPOSED_CAMERA in used:
            sources[COMPOSED_CAMERA] = composed_clip(model_of(args))
    model = model_of(args)
    STATE.mkdir(parents=True, exist_ok=True)
    rtsp_port = DEFAULT_RTSP_PORT if _port_free(DEFAULT_RTSP_PORT) else _free_port()
    mounts = build_mounts(sources) if sources else {}
    if mounts:
        start_rtsp_server(mounts, rtsp_port, stack)
    mqtt_cfg = base["mqtt"]
    host = str(mqtt_cfg["host"])
    prefix = str(mqtt_cfg.get("topic_prefix", m.DEFAULT_PREFIX))
    try:
        ids = register(str(base["site"]["id"]), prefix, STATE)
    except RuntimeError as exc:
        raise DemoError(str(exc)) from exc
    print(f"demo: broker accounts of the console and the edge in {ids.password_file.parent}/")
    mqtt_port = ensure_broker(host, int(mqtt_cfg.get("port", 1883)), ids, stack)
    cameras = own_cameras(clips, rtsp, rtsp_port) if clips or rtsp else None
    # the demo's environment is the worker's (as systemd's EnvironmentFile= would give it)
    os.environ.update(ids.edge_env)
    config = derive_config(
        args.config, cameras, rtsp_port, mqtt_port, Path(model).resolve(), ids.edge_config
    )
    printer = Printer(ZoneInfo(base["site"].get("timezone", "UTC")))
    subscribe(host, mqtt_port, prefix, ids.console_login, printer, stack)
    if args.console_port:
        port = args.console_port if _port_free(args.console_port) else _free_port()
        try:
            info = start_console(stack, host, mqtt_port, prefix, port, STATE, ids.console_env)
        except RuntimeError as exc:
            raise DemoError(str(exc)) from exc
        users = ", ".join(DEMO_USERS)
        print(f"demo: console at {info.url}  (log in as {users}; password {info.password})")
        print("demo: the password is new on every run; the console keeps its data in var/console/")
    print(f"demo: times are site time ({printer.tz.key}); stop with Ctrl-C")
    worker = start_worker(config, stack)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    while not stopping.wait(0.2):
        if worker.poll() is not None:
            tail = (STATE / "edge.log").read_text(errors="replace")[-3000:]
            print(f"demo: the edge worker exited with code {worker.returncode}:\n{tail}")
            return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    print("demo: stopping the worker (open alerts end, clips finish, the outbox flushes)...")
    _stop(worker, "the edge worker", STOP_WORKER_S, signal.SIGABRT)
    time.sleep(1.0)  # the last messages reach the subscriber
    summary = ", ".join(f"{n} {k}" for k, n in sorted(printer.counts.items())) or "nothing"
    print(f"demo: received {summary}; worker exit code {worker.returncode}")
    online = printer.counts["camera online"] > 0
    if not online:
        print(f"demo: no camera came online: see {STATE / 'edge.log'}")
    return 0 if worker.returncode == 0 and online else 1


if __name__ == "__main__":
    sys.exit(main())

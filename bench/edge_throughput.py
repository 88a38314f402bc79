"""Edge throughput: how many cameras one box analyses at 2 fps, SiteWatch against a naive baseline.

    .venv/bin/python -m bench.edge_throughput [--steps 1,2,4,6,8,12,16] [--window 20] [--smoking]
        [--watch 1]

Not a test: a measurement, reported in bench/RESULTS.md. One run does all of this:

* **Cameras.** A violation clip (bench/violation_clip.py: a crop of the hard-hat val set with
  1-3 bare heads the model finds, 6 s, then a worn hard hat, 6 s; a still camera with a block
  sliding past, so that motion gating never skips a frame) is re-encoded like an IP camera
  (640x360 sub-stream and 1920x1080 main stream, 25 fps, H.264) and served by ONE
  samples/rtsp_server.py as ``sub0..``/``main0..``.
* **SiteWatch**: the real ``EdgeWorker`` on a generated config with N cameras: a reader per
  sub-stream (decode every frame, convert only the frames analysed), a segment recorder per
  main stream (ffmpeg stream copy), the batcher feeding one detector session per core (one
  thread each, max batch 8, rectangular 416x256 input), tracker,
  rules (``no_helmet``, whole view, dwell 2 s, cooldown 0 so every appearance alerts), alert
  delivery with snapshots and clips, the SQLite outbox, mosquitto. Hard-hat cameras by
  default; ``--smoking`` adds a no-smoking zone and rule to every camera, which makes the
  detector take its second look (head-and-shoulders crops for cigarettes) on every frame.
* **Baseline** (naive): per camera one thread that opens the sub-stream with PyAV, decodes and
  converts EVERY frame to BGR, and every 0.5 s runs its own batch-1 detector (ONNX Runtime's
  default threads: all cores; the second look exactly when SiteWatch takes it) on the frame it
  just decoded. No recording, tracking or alerts: it does less than SiteWatch.

* **Watched** (``--watch K``, K >= 1): SiteWatch once more ("sitewatch+live"), the same but its
  first K cameras watched live through the edge's own path (a signed live command over
  mosquitto, ffmpeg remux, signed POSTs) to a local sink standing for the console, which
  verifies nothing (bench/live_watch.py). Its row adds ``live``: the live streams' CPU and
  upstream. Default (K = 0): nobody watches and this system is not run.

For each N of ``--steps`` the systems run in turn (SiteWatch first) on the same server and
streams; after ``--warmup`` s, ``--window`` s are measured. Per camera: frames that went through
the detector per second (probed at ``Batcher.run``); per frame: the latency from the frame's
stream time (its RTP time on the wall clock, anchored at the earliest arrival, so a reader
falling behind shows as latency) and from its decode (``Frame.captured_at``) to detections
ready. SiteWatch alerts: from the first analysed frame that shows that bare head at the rule's
score (onset; the alert's box matched by IoU >= 0.3) and from the frame that confirmed it
(``started_at``) to the start message arriving at a subscriber of the broker. CPU: the whole
box (/proc/stat), the bench process (edge or baseline threads, with the edge's ffmpeg
recorders), the RTSP server (the simulated cameras, which would not run on a real edge box), and
"other load": the box's busy time that none of these used. A step during which other load
exceeded ``--max-other`` % is measured again (``--retries``), and kept, flagged, if it persists.

* **Wide** (``--wide K``, K >= 1): SiteWatch's config also has K cameras ``wide0..`` that
  analyse a main stream (1920x1080) with the tile look (``tile_look: true``) at ``--wide-fps``
  (default 0.2), beside its N sub-stream cameras: how many sub-stream cameras such cameras cost.
  Their frames and latency are reported apart (``wide_fps``, ``wide_latency_p95_s``) and do not
  count towards "sustains"; the baseline has none. Default (K = 0): no wide camera. They run
  the cued tiles (the default ``detector.tile_cue``), or every tile with ``--every-tile``; they
  see the factory floor's clip as a 1080p main stream, or with ``--wide-scene sparse`` the
  realistic set's sparse ``wide1080`` views (bench/wide_stream.py).

A system *sustains* N cameras when every camera gets >= 90 % of 2 fps and the p95 frame
latency (from stream time) is <= 1 s (the worker's ``max_frame_age_ms``): analysing old frames
at 2 fps is not keeping up. A system stops ramping at its first step that fails.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.live_watch import LiveWatch
from bench.violation_clip import build_clip, camera_streams, choose_scenes
from bench.wide_stream import sparse_main_stream
from sitewatch.contract import messages as m
from sitewatch.edge.detect.batcher import DetectFn
from sitewatch.edge.detect.detector import Detector
from sitewatch.edge.detections import AnalysedFrame
from sitewatch.edge.publish import delivery
from sitewatch.edge.publish.transport import MqttTransport
from sitewatch.edge.video.capture import Frame
from sitewatch.edge.worker import DETECTOR_CONF, EdgeWorker

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
FPS = 2.0
SUSTAIN_FPS = 0.9 * FPS
MAX_P95_S = 1.0
DWELL_S = 2.0
MIN_SCORE = 0.4
LABEL_CONF = {"helmet": 0.25, "head": 0.25, "person": 0.25, "cigarette": 0.2}
WIDE = "wide"
"""Id prefix of the ``--wide`` cameras."""
ONSET_GAP_S = 3.0
"""A head seen after this long without one is a new appearance (an onset)."""
Image = npt.NDArray[np.uint8]
log = logging.getLogger("bench.edge_throughput")


# -- servers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_rtsp(streams: dict[str, Path], cameras: int, port: int) -> subprocess.Popen[bytes]:
    cmd = [SYSTEM_PYTHON, str(ROOT / "samples" / "rtsp_server.py"), "--port", str(port)]
    for i in range(cameras):
        cmd += ["--mount", f"sub{i}={streams['sub']}", "--mount", f"main{i}={streams['main']}"]
        cmd += ["--mount", f"{WIDE}{i}={streams[WIDE]}"] if WIDE in streams else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30.0)
    if not ready or proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise SystemExit("bench: the RTSP server did not start (make system-deps)")
    return proc


def start_mosquitto(folder: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if binary is None:
        raise SystemExit("bench: mosquitto is not installed (make system-deps)")
    conf = folder / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    conf.write_text("\n".join([*lines, *(["user root"] if os.geteuid() == 0 else [])]) + "\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: mosquitto did not start")


# -- measuring ---------------------------------------------------------------------------------


def _box_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole box."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _proc_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(exclude: set[int]) -> dict[int, float]:
    me, out = os.getpid(), {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pid = int(stat.split("/")[2])
        if int(fields[1]) == me and pid not in exclude:
            out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


@dataclass
class CpuSample:
    box: tuple[int, int]
    own: float  # this process (all threads) + its children other than the servers
    server: float  # the RTSP server
    broker: float  # and the live sink (--watch)

    @staticmethod
    def take(servers: Sequence[int]) -> CpuSample:
        """``servers``: the RTSP server, the broker, then the live sink when there is one."""
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        own += sum(_children(set(servers)).values())
        rtsp, broker = _proc_seconds(servers[0]), sum(_proc_seconds(p) for p in servers[1:])
        return CpuSample(_box_jiffies(), own, rtsp, broker)


@dataclass
class Measure:
    """What one step collects inside its window."""

    frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lag_stream: list[float] = field(default_factory=list)
    lag_decode: list[float] = field(default_factory=list)
    reused: int = 0
    lag_wide: list[float] = field(default_factory=list)  # --wide cameras' frames, kept apart
    lock: threading.Lock = field(default_factory=threading.Lock)
    on: bool = False

    def frame(self, camera: str, done: float, ts: float, decoded: float) -> None:
        with self.lock:
            if self.on:
                self.frames[camera] += 1
                if camera.startswith(WIDE):
                    self.lag_wide.append(done - ts)
                    return
                self.lag_stream.append(done - ts)
                self.lag_decode.append(done - decoded)


def pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class Step:
    system: str
    cameras: int
    fps: list[float]
    lag_stream: list[float]
    lag_decode: list[float]
    cpu_box: float  # % of the whole box (all cores)
    cpu_own: float  # % of one core
    cpu_server: float  # % of one core
    cpu_other: float  # % of the whole box: processes that are not part of this bench
    alert_onset: list[float] = field(default_factory=list)
    alert_trigger: list[float] = field(default_factory=list)
    alert_written: list[float] = field(default_factory=list)  # message written -> on the broker
    clip_delay: list[float] = field(default_factory=list)  # start message -> message with clip
    no_clip: int = 0  # alerts started in the window whose clip never came
    reused: int = 0
    batch_mean: float | None = None
    live: dict[str, Any] | None = None  # --watch: LiveWatch.spent over the window
    wide_fps: list[float] = field(default_factory=list)  # --wide cameras, frames analysed / s
    lag_wide: list[float] = field(default_factory=list)

    @property
    def sustained(self) -> bool:
        p95 = pct(self.lag_stream, 95)
        return min(self.fps) >= SUSTAIN_FPS and p95 is not None and p95 <= MAX_P95_S

    def row(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "system": self.system,
            "cameras": self.cameras,
            "fps_min": r(min(self.fps)),
            "fps_mean": r(statistics.fmean(self.fps)),
            "latency_p50_s": r(pct(self.lag_stream, 50)),
            "latency_p95_s": r(pct(self.lag_stream, 95)),
            "latency_from_decode_p95_s": r(pct(self.lag_decode, 95)),
            "alerts": len(self.alert_onset),
            "alert_onset_p50_s": r(pct(self.alert_onset, 50)),
            "alert_onset_p95_s": r(pct(self.alert_onset, 95)),
            "alert_trigger_p95_s": r(pct(self.alert_trigger, 95)),
            "alert_written_to_broker_p95_s": r(pct(self.alert_written, 95)),
            "clip_delay_p50_s": r(pct(self.clip_delay, 50)),
            "clip_delay_p95_s": r(pct(self.clip_delay, 95)),
            "alerts_without_clip": self.no_clip,
            "cpu_box_pct": round(self.cpu_box, 1),
            "cpu_process_pct_of_core": round(self.cpu_own, 1),
            "cpu_rtsp_server_pct_of_core": round(self.cpu_server, 1),
            "cpu_other_pct_of_box": round(self.cpu_other, 1),
            "inference_skipped_by_motion_gate": self.reused,
            "mean_batch": r(self.batch_mean),
            "sustained": self.sustained,
            **({"live": self.live} if self.live is not None else {}),
            **(
                {
                    "wide_cameras": len(self.wide_fps),
                    "wide_fps": [r(v) for v in self.wide_fps],
                    "wide_latency_p95_s": r(pct(self.lag_wide, 95)),
                }
                if self.wide_fps
                else {}
            ),
        }


def measured(
    system: str, n: int, args: argparse.Namespace, servers: Sequence[int], measure: Measure,
    watch: LiveWatch | None = None,
) -> Step:  # fmt: skip
    time.sleep(args.warmup)
    live = watch.snapshot() if watch is not None else None
    before = CpuSample.take(servers)
    began = time.time()
    with measure.lock:
        measure.on = True
    time.sleep(args.window)
    with measure.lock:
        measure.on = False
    span = time.time() - began  # frames were counted over exactly this
    after = CpuSample.take(servers)
    cpu_span = time.time() - began  # and the CPU between the two readings
    spent = LiveWatch.spent(live, watch.snapshot()) if watch is not None and live else None
    busy, total = (a - b for a, b in zip(after.box, before.box, strict=True))
    cores = os.cpu_count() or 1
    ours = (after.own + after.server + after.broker) - (before.own + before.server + before.broker)
    other = busy / os.sysconf("SC_CLK_TCK") - ours  # CPU-seconds nobody in this bench used
    return Step(
        system,
        n,
        [measure.frames.get(f"cam{i}", 0) / span for i in range(n)],
        list(measure.lag_stream),
        list(measure.lag_decode),
        100.0 * busy / max(total, 1),
        100.0 * (after.own - before.own) / cpu_span,
        100.0 * (after.server - before.server) / cpu_span,
        max(0.0, 100.0 * other / (cpu_span * cores)),
        reused=measure.reused,
        live=spent,
        wide_fps=[measure.frames.get(f"{WIDE}{i}", 0) / span for i in range(args.wide)]
        if system != "baseline"
        else [],
        lag_wide=list(measure.lag_wide),
    )


# -- SiteWatch ---------------------------------------------------------------------------------


def sitewatch_config(folder: Path, n: int, rtsp: int, mqtt: int, args: argparse.Namespace) -> Path:
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    config = {
        "version": 1,
        "site": {"id": f"bench-n{n}", "name": "edge throughput bench", "timezone": "UTC"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt},
        "detector": {
            "model": str(args.model),
            **({"input_size": args.input_size} if args.input_size else {}),
            "max_batch": args.max_batch,
            "second_look": True,  # used by cameras with a smoking rule only (--smoking)
            "label_conf": LABEL_CONF,
            **({"tile_cue": None} if args.every_tile else {}),
        },
        "evidence": {"dir": str(folder / "evidence"), "pre_roll_s": 4, "post_roll_s": 4},
        "outbox": {"path": str(folder / "outbox.sqlite")},
        "defaults": {
            "detect_fps": FPS,
            "rules": {
                "no_helmet": {"min_score": MIN_SCORE, "dwell_s": DWELL_S, "cooldown_s": 0},
                "smoking": {"enabled": args.smoking, "dwell_s": DWELL_S, "cooldown_s": 0},
            },
        },
        **({"trust": {"console_public_key": args.watch_key}} if args.watch else {}),
        "cameras": [
            {
                "id": f"cam{i}",
                "detect": f"rtsp://127.0.0.1:{rtsp}/sub{i}",
                "record": f"rtsp://127.0.0.1:{rtsp}/main{i}",
                "zones": [
                    {"id": "all", "kind": "helmet_required", "points": whole},
                    *([{"id": "nosmoke", "kind": "no_smoking", "points": whole}] * args.smoking),
                ],
            }
            for i in range(n)
        ],
    }
    wide_mount = WIDE if args.wide_scene == "sparse" else "main"
    config["cameras"] += [  # type: ignore[operator]
        {
            "id": f"{WIDE}{i}",
            "detect": f"rtsp://127.0.0.1:{rtsp}/{wide_mount}{i}",
            "detect_fps": args.wide_fps,
            "tile_look": True,
            "zones": [{"id": "all", "kind": "helmet_required", "points": whole}],
        }
        for i in range(args.wide)
    ]
    path = folder / "cameras.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


Box = tuple[float, float, float, float]


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def onset(sightings: list[tuple[float, list[Box]]], box: Box, until: float) -> float | None:
    """When the head at ``box`` (normalised) was first seen at the rule's score in its current
    appearance: the start of the last run of analysed frames up to ``until`` that show a head
    box overlapping it, runs split by gaps over ONSET_GAP_S."""
    start: float | None = None
    last = -1e18
    for ts, boxes in sorted(sightings, key=lambda s: s[0]):
        if ts > until + 1e-6:
            break
        if any(_iou(b, box) >= 0.3 for b in boxes):
            if ts - last > ONSET_GAP_S:
                start = ts
            last = ts
    return start


class Alerts:
    """no_helmet start messages as they arrive: (site, camera, started_at, box, received, id,
    sent_at: when the edge wrote it), and when the first message listing each alert's clip
    arrived."""

    def __init__(self, port: int) -> None:
        self.starts: list[tuple[str, str, float, Box, float, str, float]] = []
        self.clip_at: dict[str, float] = {}
        self.transport = MqttTransport(
            "127.0.0.1", port, client_id=f"bench-{os.getpid()}", clean_session=True
        )
        self.transport.subscribe(m.alerts(m.DEFAULT_PREFIX, m.ANY), self._on_alert)

    def _on_alert(self, topic: str, payload: bytes) -> None:
        received = time.time()
        msg = m.decode(payload, m.AlertEvent)
        if msg.rule != "no_helmet":
            return
        if msg.event == "start":
            site, camera, started = msg.site_id, msg.camera_id, msg.started_at.timestamp()
            sent = msg.sent_at.timestamp()
            self.starts.append((site, camera, started, msg.box, received, str(msg.id), sent))
        if any(e.kind == "clip" for e in msg.evidence):
            self.clip_at.setdefault(str(msg.id), received)


def run_sitewatch(
    n: int, args: argparse.Namespace, ports: tuple[int, int], servers: Sequence[int],
    alerts: Alerts, watch: LiveWatch | None = None,
) -> Step:  # fmt: skip
    """One SiteWatch step; with ``watch``, its first ``args.watch`` cameras watched live."""
    folder = Path(tempfile.mkdtemp(prefix=f"sitewatch-n{n}-", dir=args.tmp))
    worker = EdgeWorker(sitewatch_config(folder, n, *ports, args))
    measure = Measure()
    head = worker.detector.labels.index("head")
    sightings: dict[str, list[tuple[float, list[Box]]]] = defaultdict(list)
    run = worker.batcher.run

    def probe(frames: Sequence[Frame], detect: DetectFn | None = None) -> list[AnalysedFrame]:
        results = run(frames, detect)
        done = time.time()
        for r in results:
            if r.reused:
                measure.reused += int(measure.on)
                continue
            f, d = r, r.detections
            measure.frame(f.camera, done, f.ts, f.captured_at or f.ts)
            height, width = f.image.shape[:2]
            scale = np.asarray([width, height, width, height], dtype=np.float32)
            heads = d.xyxy[(d.class_ids == head) & (d.scores >= MIN_SCORE)] / scale
            sightings[f.camera].append((f.ts, [(a, b, c, e) for a, b, c, e in heads.tolist()]))
        return results

    setattr(worker.batcher, "run", probe)  # noqa: B010  (an instance-level probe)
    worker.start()
    loop = threading.Thread(target=worker.main_loop, name="main-loop", daemon=True)
    loop.start()
    began = time.time() + args.warmup
    if watch is not None:
        watch.start(f"bench-n{n}", [f"cam{i}" for i in range(min(args.watch, n))])
    system = "sitewatch" if watch is None else "sitewatch+live"
    step = measured(system, n, args, servers, measure, watch)
    ended = time.time()
    if watch is not None:
        watch.stop()
    step.batch_mean = worker.batcher.stats.mean_batch
    worker.stop_event.set()
    loop.join(30.0)
    worker.shutdown()
    time.sleep(0.5)
    for site, camera, started, box, received, alert_id, sent in list(alerts.starts):
        if site != f"bench-n{n}" or not began <= started <= ended:
            continue
        step.alert_trigger.append(received - started)
        step.alert_written.append(received - sent)
        if alert_id in alerts.clip_at:
            step.clip_delay.append(alerts.clip_at[alert_id] - received)
        else:
            step.no_clip += 1
        first = onset(sightings[camera], box, started)
        if first is not None:
            step.alert_onset.append(received - first)
    shutil.rmtree(folder, ignore_errors=True)
    return step


# -- the naive baseline ------------------------------------------------------------------------


def naive_camera(url: str, detect: Callable[[Image], object], camera: str, measure: Measure,
                 stop: threading.Event) -> None:  # fmt: skip
    """Decode every frame to BGR; every 0.5 s, detect on the frame just decoded (batch 1)."""
    offset: float | None = None
    next_due = 0.0
    while not stop.is_set():
        try:
            with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as c:
                for frame in c.decode(video=0):
                    if stop.is_set():
                        return
                    wall = time.time()
                    image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                    pts = frame.time
                    if pts is not None and (offset is None or offset + pts > wall):
                        offset = wall - pts  # the earliest arrival anchors stream time
                    ts = wall if pts is None or offset is None else offset + pts
                    if wall >= next_due:
                        next_due = max(next_due + 1.0 / FPS, wall)
                        detect(image)
                        measure.frame(camera, time.time(), ts, wall)
        except (av.FFmpegError, OSError) as exc:
            log.warning("baseline %s: %s; reconnecting", camera, exc)
            stop.wait(1.0)


def run_baseline(n: int, args: argparse.Namespace, rtsp: int, servers: Sequence[int]) -> Step:
    confs = {k: v for k, v in LABEL_CONF.items() if k in args.labels}
    detectors = [
        Detector(
            args.model,
            conf=DETECTOR_CONF,
            label_conf=confs,
            max_batch=1,
            second_look=args.smoking,  # as SiteWatch: only cameras with a smoking rule
        )  # threads=None: all cores, as ONNX Runtime's default
        for _ in range(n)
    ]
    measure, stop = Measure(), threading.Event()
    threads = [
        threading.Thread(
            target=naive_camera,
            args=(
                f"rtsp://127.0.0.1:{rtsp}/sub{i}",
                lambda img, d=det: d.detect([img]),
                f"cam{i}",
                measure,
                stop,
            ),
            daemon=True,
        )
        for i, det in enumerate(detectors)
    ]
    for t in threads:
        t.start()
    step = measured("baseline", n, args, servers, measure)
    stop.set()
    for t in threads:
        t.join(10.0)
    return step


# -- main --------------------------------------------------------------------------------------


def table(steps: list[Step]) -> str:
    def f(v: float | None, unit: str = "") -> str:
        return "-" if v is None else f"{v:.2f}{unit}"

    lines = [
        "| system | cameras | fps min / mean | frame latency p50 / p95 | alert onset p50 / p95 "
        "(n) | clip after start p50 / p95 (none) | CPU box | CPU process | CPU RTSP server | "
        "other load | sustained |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        alert = (
            f"{f(pct(s.alert_onset, 50))} / {f(pct(s.alert_onset, 95))} s ({len(s.alert_onset)})"
            if s.system.startswith("sitewatch")
            else "n/a"
        )
        clip = (
            f"{f(pct(s.clip_delay, 50))} / {f(pct(s.clip_delay, 95))} s ({s.no_clip})"
            if s.system.startswith("sitewatch")
            else "n/a"
        )
        lines.append(
            f"| {s.system} | {s.cameras} | {min(s.fps):.2f} / {statistics.fmean(s.fps):.2f} | "
            f"{f(pct(s.lag_stream, 50))} / {f(pct(s.lag_stream, 95))} s | {alert} | {clip} | "
            f"{s.cpu_box:.0f} % | {s.cpu_own:.0f} % | {s.cpu_server:.0f} % | {s.cpu_other:.0f} % | "
            f"{'yes' if s.sustained else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="1,2,4,6,8,12,16", help="camera counts to try, ascending")
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured per step")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "sitewatch.onnx")
    ap.add_argument(
        "--smoking", action="store_true",
        help="cameras also have a no-smoking zone and rule, so every frame gets the second look "
        "for cigarettes (in both systems); default: hard-hat cameras only",
    )  # fmt: skip
    ap.add_argument(
        "--only", choices=["sitewatch", "sitewatch+live", "baseline"], help="run one system only"
    )
    ap.add_argument(
        "--watch", type=int, default=0,
        help="also run SiteWatch with its first K cameras watched live (system "
        "'sitewatch+live'; bench/live_watch.py); default 0: nobody watches",
    )  # fmt: skip
    ap.add_argument(
        "--input-size", type=int, default=None,
        help="SiteWatch's detector.input_size (default: the model's own, 416); the baseline "
        "keeps the model's own",
    )  # fmt: skip
    ap.add_argument(
        "--max-other", type=float, default=10.0,
        help="measure a step again when processes outside the bench took more than this %% "
        "of the box during its window",
    )  # fmt: skip
    ap.add_argument("--retries", type=int, default=2, help="how often to measure a step again")
    ap.add_argument(
        "--max-batch", type=int, default=8, help="SiteWatch's detector.max_batch (default 8)"
    )
    ap.add_argument(
        "--evidence-nice", type=int, default=None,
        help="niceness of SiteWatch's clip thread and its ffmpeg (default: the product's, "
        f"{delivery.EVIDENCE_NICE}; 0 = same priority as detection, as before 2026-11-22)",
    )  # fmt: skip
    ap.add_argument(
        "--wide", type=int, default=0,
        help="SiteWatch also runs K cameras on main streams with the tile look (their frames "
        "reported apart); default 0",
    )  # fmt: skip
    ap.add_argument("--wide-fps", type=float, default=0.2, help="detect_fps of the --wide cameras")
    ap.add_argument(
        "--wide-scene", choices=["floor", "sparse"], default="floor",
        help="what the --wide cameras see: the factory floor's clip as a 1080p main stream "
        "(people and machines over most of it), or sparse 1080p views (bench/wide_stream.py)",
    )  # fmt: skip
    ap.add_argument(
        "--every-tile", action="store_true",
        help="the --wide cameras run every tile (detector.tile_cue: null), not the cued ones",
    )  # fmt: skip
    args = ap.parse_args()
    if args.only == "sitewatch+live" and args.watch < 1:
        ap.error("--only sitewatch+live needs --watch K (K >= 1 cameras watched)")
    if args.evidence_nice is not None:
        delivery.EVIDENCE_NICE = args.evidence_nice
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    steps = sorted({int(s) for s in args.steps.split(",")})
    args.model = args.model.resolve()

    probe = Detector(args.model, second_look=False, input_size=args.input_size)
    args.labels = probe.labels
    bare, calm, scenes = choose_scenes(probe, MIN_SCORE)
    streams = camera_streams(build_clip(bare, calm))
    if args.wide and args.wide_scene == "sparse":
        streams[WIDE] = sparse_main_stream()
    with tempfile.TemporaryDirectory(prefix="edge-throughput-") as tmp:
        args.tmp = tmp
        rtsp_port, mqtt_port = _free_port(), _free_port()
        server = start_rtsp(streams, max(*steps, args.wide), rtsp_port)
        broker = start_mosquitto(Path(tmp), mqtt_port)
        servers = [server.pid, broker.pid]
        alerts = Alerts(mqtt_port)
        watch = LiveWatch(alerts.transport, Ed25519PrivateKey.generate()) if args.watch else None
        if watch is not None:
            args.watch_key = watch.console_key
            servers.append(watch.proc.pid)
        systems = ("sitewatch", *(["sitewatch+live"] if watch else []), "baseline")
        done: list[Step] = []
        running = {args.only} if args.only else set(systems)
        try:
            for n in steps:
                for system in systems:
                    if system not in running:
                        continue
                    for attempt in range(1 + args.retries):
                        if system.startswith("sitewatch"):
                            live = watch if system == "sitewatch+live" else None
                            ports = (rtsp_port, mqtt_port)
                            step = run_sitewatch(n, args, ports, servers, alerts, live)
                        else:
                            step = run_baseline(n, args, rtsp_port, servers)
                        if step.cpu_other <= args.max_other:
                            break
                        log.warning(
                            "%s with %d cameras: other processes took %.0f %% of the box "
                            "(attempt %d)%s",
                            system, n, step.cpu_other, attempt + 1,
                            "; measuring again" if attempt < args.retries else "; kept anyway",
                        )  # fmt: skip
                    done.append(step)
                    print(json.dumps(step.row()), flush=True)
                    if not step.sustained:
                        running.discard(system)
                if not running:
                    break
        finally:
            alerts.transport.close()
            if watch is not None:
                watch.close()
            for proc in (server, broker):
                proc.terminate()
                proc.wait(10)
    best = {
        system: max((s.cameras for s in done if s.system == system and s.sustained), default=0)
        for system in systems
    }
    print(table(done))
    summary = {
        "bench": "edge_throughput",
        "cpu": platform.processor() or _cpu_model(),
        "cores": os.cpu_count(),
        "model": str(
            args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model
        ),
        "smoking_rule": args.smoking,
        **(
            {
                "wide_cameras": args.wide,
                "wide_fps": args.wide_fps,
                "wide_scene": args.wide_scene,
                "every_tile": args.every_tile,
            }
            if args.wide
            else {}
        ),
        "scenes": scenes,
        "window_s": args.window,
        "warmup_s": args.warmup,
        "sustained_cameras": best,
        "ratio": round(best["sitewatch"] / best["baseline"], 2) if best["baseline"] else None,
        **(
            {
                "watched_cameras": args.watch,
                "ratio_watched": round(best["sitewatch+live"] / best["baseline"], 2)
                if best["baseline"]
                else None,
            }
            if watch
            else {}
        ),
        "steps": [s.row() for s in done],
    }
    print(json.dumps(summary))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()

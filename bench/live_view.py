"""Live view: upstream kB per viewer-minute, the edge's CPU per live camera, and the delay.

    .venv/bin/python -m bench.live_view [--minutes 2] [--viewers 1,2,5] [--main]

A measurement for bench/RESULTS.md ("Live view"); nothing stands in. A real CCTV clip
(``--clip``) made an IP camera's 640x360 sub-stream (``--main``: also the 1080p main stream,
watched as ``record``) by samples/make_streams.py, as in bench/edge_throughput.py, served by
samples/rtsp_server.py; the real ``EdgeWorker`` in this process; ``sitewatch server run`` in
its own process (SQLite, MQTT ingest, the edge registered by ``server add-edge``); N viewers,
each an httpx client with its own login reading ``GET /api/video/live/...``. Per stream and N,
after ``--warmup`` s: the console's ``upstream_bytes`` over ``--minutes`` (per N: one upstream
whatever N; the session id and viewer count are checked); the edge's live CPU (ffmpeg remux +
live threads) and the console's, in CPU-s per minute; the delay from a fragment's first frame
at the edge (its ``X-SiteWatch-Time``, as ``/info``'s ``last_part_time``) to a viewer (camera
encoding and the player's buffer are not in it). One machine, one clock; kB = 1000 bytes.
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from bench.edge_throughput import start_mosquitto, start_rtsp
from bench.live_rig import ConsoleProcess, Viewer, cpu_spent, free_port, live_cpu
from sitewatch.contract.signing import load_or_create_key, public_key_text
from sitewatch.edge.worker import EdgeWorker

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "clips" / "factory_floor_cctv.mp4"
SITE, CAMERA = "bench-live", "cam0"
POLL_S = 0.25
log = logging.getLogger("bench.live_view")


def build_streams(clip: Path, main: bool) -> dict[str, Path]:
    """The camera's streams (``sub``, and ``main`` when asked), built once and cached."""
    out = {}
    for variant in ("sub", "main") if main else ("sub",):
        run = subprocess.run(
            [sys.executable, str(ROOT / "samples" / "make_streams.py"), "--out",
             str(ROOT / "build" / "streams"), "--variant", variant, str(clip)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        out[variant] = Path(run.stdout.strip().splitlines()[-1])
    return out


def bitrate_kbps(path: Path) -> float:
    """The file's video bit rate (kbit/s), as ffprobe reads it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=bit_rate", "-of", "csv=p=0",
         str(path)], check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(out.strip()) / 1000.0


def edge_config(folder: Path, rtsp: int, mqtt: int, console_key: str, main: bool) -> Path:
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    camera: dict[str, Any] = {
        "id": CAMERA,
        "detect": f"rtsp://127.0.0.1:{rtsp}/sub0",
        "zones": [{"id": "all", "kind": "helmet_required", "points": whole}],
    }
    if main:
        camera["record"] = f"rtsp://127.0.0.1:{rtsp}/main0"
    config = {
        "version": 1,
        "site": {"id": SITE, "name": "live view bench", "timezone": "UTC"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt},
        "detector": {"model": str(ROOT / "models" / "sitewatch.onnx")},
        "evidence": {"dir": str(folder / "evidence"), "min_free_hours": 0},
        "outbox": {"path": str(folder / "outbox.sqlite")},
        "defaults": {"detect_fps": 2.0, "rules": {"smoking": {"enabled": False}}},
        "cameras": [camera],
        "trust": {"key_file": str(folder / "edge.key"), "console_public_key": console_key},
    }
    path = folder / "cameras.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class InfoPoller(threading.Thread):
    """Polls the live session's ``/info``: console arrival (``last_part_at``) -> the edge's
    time of the part's first frame (``last_part_time``), for every part it sees."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        super().__init__(name="info-poller", daemon=True)
        self.client, self.path = client, path
        self.parts: dict[float, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(POLL_S):
            try:
                info = self.client.get(self.path).json()
            except (httpx.HTTPError, ValueError):
                continue
            if info.get("last_part_at") and info.get("last_part_time"):
                self.parts[float(info["last_part_at"])] = float(info["last_part_time"])


def delays(arrivals: list[float], parts: dict[float, float]) -> list[tuple[float, float]]:
    """(edge first frame -> viewer, console -> viewer) per arrival matched to the last part
    the console took before it (within 1 s; unmatched arrivals are left out)."""
    at = sorted(parts)
    out = []
    for arrival in arrivals:
        i = bisect.bisect_right(at, arrival) - 1
        if i >= 0 and arrival - at[i] <= 1.0:
            out.append((arrival - parts[at[i]], arrival - at[i]))
    return out


@dataclass
class Config:
    stream: str
    viewers: int
    stream_kbps: float


def measure(cfg: Config, console: ConsoleProcess, args: argparse.Namespace) -> dict[str, Any]:
    """One configuration: ``cfg.viewers`` watch ``cfg.stream`` for the window."""
    live = f"/api/video/live/{SITE}/{CAMERA}?stream={cfg.stream}"
    info_path = f"/api/video/live/{SITE}/{CAMERA}/info?stream={cfg.stream}"
    api = console.login()
    viewers = [Viewer(console, live, f"viewer-{i}") for i in range(cfg.viewers)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.joined.wait(60)
        if v.error:
            raise SystemExit(f"bench: viewer {v.name} of {cfg.stream}: {v.error}")
    time.sleep(args.warmup)
    poller = InfoPoller(api, info_path)
    poller.start()
    first, cpu0, console0 = api.get(info_path).json(), live_cpu(), console.cpu_seconds()
    got0 = [v.bytes for v in viewers]
    began = time.time()
    time.sleep(args.minutes * 60.0)
    last, cpu1, console1 = api.get(info_path).json(), live_cpu(), console.cpu_seconds()
    minutes = (time.time() - began) / 60.0
    got = [(v.bytes - b) / 1000.0 / minutes for v, b in zip(viewers, got0, strict=True)]
    poller.stopping.set()
    for v in viewers:
        v.stop()
    for v in viewers:
        v.join(10)
    poller.join(5)
    api.close()
    lost = [v.name for v in viewers if v.error and "ended" not in v.error]
    if first["session"] is None or first["session"] != last["session"]:
        log.warning("%s: the live session changed in the window: %s, %s", cfg, first, last)
    window = [a for v in viewers for a in v.arrivals if began <= a]
    pairs = delays(window, poller.parts)
    ffmpeg, threads = cpu_spent(cpu0, cpu1)
    upstream = (last["upstream_bytes"] - first["upstream_bytes"]) / 1000.0 / minutes

    def p(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if values else None

    edge = [d for d, _ in pairs]
    relay = [r for _, r in pairs]
    return {
        "bench": "live_view",
        "stream": cfg.stream,
        "viewers": cfg.viewers,
        "window_min": round(minutes, 2),
        "session": last["session"],
        "same_session": first["session"] == last["session"],
        "viewers_at_console": last["viewers"],
        "camera_stream_kB_per_min": round(cfg.stream_kbps / 8.0 * 60.0, 1),
        "upstream_kB_per_min": round(upstream, 1),
        "upstream_kB_per_viewer_min": round(upstream / cfg.viewers, 1),
        "received_kB_per_min_per_viewer": [round(g, 1) for g in got],
        "viewers_lost": lost,
        "parts": last["parts"] - first["parts"],
        "edge_cpu_s_per_min": round((ffmpeg + threads) / minutes, 2),
        "edge_ffmpeg_cpu_s_per_min": round(ffmpeg / minutes, 2),
        "edge_threads_cpu_s_per_min": round(threads / minutes, 2),
        "console_cpu_s_per_min": round((console1 - console0) / minutes, 2),
        "delay_edge_to_viewer_p50_s": p(edge, 50),
        "delay_edge_to_viewer_p95_s": p(edge, 95),
        "delay_console_to_viewer_p95_s": p(relay, 95),
        "delay_samples": len(pairs),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| stream | viewers | upstream kB/min (camera's) | kB per viewer-minute | received "
        "kB/min per viewer | edge CPU s/min (ffmpeg + threads) | console CPU s/min | delay "
        "edge→viewer p50 / p95 | one session |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        got = statistics.fmean(r["received_kB_per_min_per_viewer"])
        lines.append(
            f"| {r['stream']} | {r['viewers']} | {r['upstream_kB_per_min']:.0f} "
            f"({r['camera_stream_kB_per_min']:.0f}) | {r['upstream_kB_per_viewer_min']:.0f} | "
            f"{got:.0f} | {r['edge_cpu_s_per_min']:.2f} ({r['edge_ffmpeg_cpu_s_per_min']:.2f} + "
            f"{r['edge_threads_cpu_s_per_min']:.2f}) | {r['console_cpu_s_per_min']:.2f} | "
            f"{r['delay_edge_to_viewer_p50_s']} / {r['delay_edge_to_viewer_p95_s']} s | "
            f"{'yes' if r['same_session'] and r['viewers_at_console'] == r['viewers'] else 'no'} |"
        )
    return "\n".join(lines)


def wait_listed(console: ConsoleProcess, timeout_s: float) -> None:
    """Until the console lists the camera with its edge online (the edge's first messages)."""
    api = console.login()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            cams = api.get("/api/video/cameras").json()
            if any(c["camera_id"] == CAMERA and c["edge_state"] == "online" for c in cams):
                return
            time.sleep(0.5)
    finally:
        api.close()
    raise SystemExit(f"bench: the console did not list {CAMERA} online in {timeout_s:g} s")


def run(
    folder: Path, ports: tuple[int, int], kbps: dict[str, float], counts: list[int],
    args: argparse.Namespace, rows: list[dict[str, Any]],
) -> None:  # fmt: skip
    """The console and the edge on the running camera and broker; every configuration."""
    rtsp_port, mqtt_port = ports
    edge_key = public_key_text(load_or_create_key(folder / "edge.key"))
    console = ConsoleProcess(folder, mqtt_port, SITE, edge_key)
    try:
        config = edge_config(folder, rtsp_port, mqtt_port, console.public_key, args.main)
        worker = EdgeWorker(config)
        loop = threading.Thread(target=worker.main_loop, name="main-loop", daemon=True)
        try:
            worker.start()
            loop.start()
            wait_listed(console, 90)
            for stream in kbps:
                for n in counts:
                    row = measure(Config(stream, n, kbps[stream]), console, args)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            worker.stop_event.set()
            if loop.is_alive():
                loop.join(30)
            worker.shutdown()
    finally:
        console.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes measured per config")
    ap.add_argument("--viewers", default="1,2,5", help="viewer counts, comma-separated")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds watched before measuring")
    ap.add_argument("--main", action="store_true", help="also watch the 1080p main stream")
    ap.add_argument("--clip", type=Path, default=CLIP, help="the clip the camera loops")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    counts = [int(n) for n in args.viewers.split(",")]
    files = build_streams(args.clip, args.main)
    kbps = {"detect": bitrate_kbps(files["sub"])}
    if args.main:
        kbps["record"] = bitrate_kbps(files["main"])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="live-view-") as tmp:
        folder = Path(tmp)
        rtsp_port, mqtt_port = free_port(), free_port()
        server = start_rtsp({"sub": files["sub"], "main": files.get("main", files["sub"])}, 1,
                            rtsp_port)  # fmt: skip
        servers = [server]
        try:
            servers.append(start_mosquitto(folder, mqtt_port))
            run(folder, (rtsp_port, mqtt_port), kbps, counts, args, rows)
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(10)
    print(table(rows))


if __name__ == "__main__":
    main()

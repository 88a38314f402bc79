"""Cameras watched live during bench/edge_throughput.py's SiteWatch window (``--watch N``).

The edge's own live path runs as in the product: a signed ``VideoCommand`` (``live``, renewed
every 10 s with ``expires_at`` 30 s ahead, as the console's hub does) goes to the worker over
mosquitto; its video desk starts ffmpeg (stream copy to fMP4) and POSTs every fragment,
signed, to ``upload_url``. That URL is a local **sink** that stands for the console: it reads
each body, counts it and answers 204, verifying nothing (the console is not on the edge box,
so its checks are not the edge's cost). The sink runs as its own process
(``python -m bench.live_watch --port N``; prints ``ready``), so its CPU is not the edge's;
``GET /stats`` answers ``{"parts", "bytes", "errors"}`` (``errors``: the edge's ``error``
parts, e.g. the camera offline).
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.live_rig import cpu_spent, live_cpu
from sitewatch.contract import messages as m
from sitewatch.contract.signing import public_key_text, sign
from sitewatch.edge.publish.transport import MqttTransport

ROOT = Path(__file__).resolve().parent.parent
RENEW_S, EXPIRES_S = 10.0, 30.0


class LiveWatch:
    """Keeps cameras ``cameras`` of ``site`` streaming live to a sink until :meth:`stop`;
    commands go out on ``transport`` signed by ``key`` (the edge's trust.console_public_key
    must be :attr:`console_key`)."""

    def __init__(self, transport: MqttTransport, key: Ed25519PrivateKey) -> None:
        self.transport, self.key = transport, key
        self.console_key = public_key_text(key)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.live_watch", "--port", "0"], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30.0)
        line = self.proc.stdout.readline().decode().split() if ready else []
        if line[:1] != ["ready"]:
            self.proc.kill()
            raise SystemExit("bench: the live sink did not start")
        self.port = int(line[1])
        self._sessions: list[tuple[str, str, uuid.UUID]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, site: str, cameras: list[str]) -> None:
        self._sessions = [(site, camera, uuid.uuid4()) for camera in cameras]
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="live-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and tell the edge to stop (it would stop at ``expires_at`` anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        for session in self._sessions:
            self._send(*session, action="stop")
        self._sessions = []

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as r:
            out: dict[str, Any] = json.load(r)
        return out

    def snapshot(self) -> tuple[float, dict[str, float], dict[str, Any]]:
        """(time, the edge's live CPU so far, the sink's counts) for :meth:`spent`."""
        return time.time(), live_cpu(), self.stats()

    @staticmethod
    def spent(
        before: tuple[float, dict[str, float], dict[str, Any]],
        after: tuple[float, dict[str, float], dict[str, Any]],
    ) -> dict[str, Any]:
        """What the live streams cost and sent between two snapshots, per minute: CPU-seconds
        of ffmpeg and of the live threads, kB (1000 bytes) and parts the sink took."""
        minutes = (after[0] - before[0]) / 60.0
        ffmpeg, threads = cpu_spent(before[1], after[1])
        return {
            "edge_ffmpeg_cpu_s_per_min": round(ffmpeg / minutes, 3),
            "edge_threads_cpu_s_per_min": round(threads / minutes, 3),
            "upstream_kB_per_min": round(
                (after[2]["bytes"] - before[2]["bytes"]) / 1e3 / minutes, 1
            ),
            "parts": after[2]["parts"] - before[2]["parts"],
            "errors": after[2]["errors"][len(before[2]["errors"]) :],
        }

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def _renew(self) -> None:
        while True:
            for session in self._sessions:
                self._send(*session, action="live")
            if self._stop.wait(RENEW_S):
                return

    def _send(self, site: str, camera: str, rid: uuid.UUID, *, action: str) -> None:
        now = datetime.now(UTC)
        cmd = m.VideoCommand.model_validate(
            {
                "request_id": rid, "site_id": site, "camera_id": camera, "action": action,
                "stream": "detect",
                "upload_url": f"http://127.0.0.1:{self.port}/api/edge/video/{rid}",
                "expires_at": now + timedelta(seconds=EXPIRES_S), "issued_by": "bench",
                "issued_at": now,
            }
        )  # fmt: skip
        payload = m.encode(sign(cmd, self.key))
        self.transport.publish(m.video_command(m.DEFAULT_PREFIX, site), payload, qos=1)


# -- the sink (its own process) --------------------------------------------------------------


class _Counts:
    """What the sink took (guarded by ``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.parts = self.bytes = 0
        self.errors: list[str] = []


def _handler(counts: _Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the console

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with counts.lock:
                counts.parts += 1
                counts.bytes += len(body)
                if self.headers.get("X-SiteWatch-Part") == "error":
                    counts.errors.append(body.decode("utf-8", "replace")[:300])
            self.send_response(204)
            self.end_headers()

        def do_GET(self) -> None:
            with counts.lock:
                data = json.dumps(
                    {"parts": counts.parts, "bytes": counts.bytes, "errors": counts.errors}
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description="the live sink of bench/edge_throughput --watch")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(_Counts()))
    server.daemon_threads = True
    print("ready", server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""A real RTSP server for tests: samples/rtsp_server.py in a subprocess, on a free port.

Use it with ``from tests.support.rtsp_server import RtspServer, rtsp_server  # noqa: F401``, as
for ``mqtt_broker``. Each test gets its own server serving ``cam1`` and ``cam2`` (a 4-s, 640x360,
25 fps cut of the factory clip, looping); ``stop()``/``start()`` take it down and bring it back on
the same port, ``pause()``/ ``resume()`` freeze it with SIGSTOP/SIGCONT: a stall with the TCP
connection still open.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SITEWATCH_SHARED", REPO.parent / "shared"))
CLIP = SHARED / "clips" / "factory_floor_cctv.mp4"
STREAMS = REPO / "build" / "streams"
SYSTEM_PYTHON = "/usr/bin/python3"  # the GStreamer bindings are Debian's, not the venv's
DEBIAN_PACKAGES = (
    "gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi "
    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)
CLIP_SECONDS = 4.0
READY_TIMEOUT_S = 15.0


@functools.cache
def _check_gstreamer() -> None:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "assert Gst.ElementFactory.find('rtph264pay') and Gst.ElementFactory.find('qtdemux')"
    )
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        pytest.fail(
            f"the RTSP test server needs GStreamer's RTSP server for {SYSTEM_PYTHON}: install the "
            f"Debian packages {DEBIAN_PACKAGES} (make system-deps). Probe said: "
            f"{detail.decode(errors='replace').strip()[-500:]}",
            pytrace=False,
        )


@functools.cache
def build_test_stream() -> Path:
    """The 4-s sub-stream cut, built once by samples/make_streams.py (cached under build/)."""
    if not CLIP.is_file():
        pytest.skip(f"sample clip {CLIP} not found: put ../shared beside the checkout")
    script = REPO / "samples" / "make_streams.py"
    args = ["--out", str(STREAMS), "--variant", "sub", "--duration", f"{CLIP_SECONDS:g}", str(CLIP)]
    out = subprocess.run(
        [sys.executable, str(script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """samples/rtsp_server.py as a subprocess; ``url(name)`` for its mounts."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None) -> None:
        self.mounts = mounts
        self.port = port or _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        # The server's stderr: a pipe nobody reads could fill up and block it. Closed in close().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """Start serving (again, on the same port) and wait for "ready"."""
        assert self._proc is None, "server already running"
        cmd = [SYSTEM_PYTHON, str(REPO / "samples" / "rtsp_server.py"), "--port", str(self.port)]
        cmd += [arg for name, path in self.mounts.items() for arg in ("--mount", f"{name}={path}")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log)
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            readable, _, _ = select.select([proc.stdout], [], [], 0.1)
            if readable and proc.stdout.readline().strip() == b"ready":
                self._proc = proc
                return
        proc.kill()
        proc.wait()
        self._log.seek(0)
        raise RuntimeError(
            f"RTSP server on port {self.port} not ready after {READY_TIMEOUT_S:g} s "
            f"(exit code {proc.returncode}): {self._log.read().decode(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); clients see their connection close."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, no data flows."""
        assert self._proc is not None, "server not running"
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None, "server not running"
        self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        self._log.close()


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A running server with mounts ``cam1`` and ``cam2`` (the looping 4-s test stream)."""
    _check_gstreamer()
    stream = build_test_stream()
    server = RtspServer({"cam1": stream, "cam2": stream})
    server.start()
    try:
        yield server
    finally:
        server.close()

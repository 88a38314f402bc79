"""A live RTSP camera whose every frame carries the wall clock it was made at, as a code.

The code: the Unix time of the frame in milliseconds (48 bits) and a 12-bit check (CRC-32 of
those 6 bytes, low 12 bits), most significant bit first, as black (0) and white (1) square
blocks: :data:`COLUMNS` blocks across the full width, :data:`ROWS` rows from the top, each
block ``width / COLUMNS`` pixels square (32 px at 640x360: whole H.264 macroblock pairs, so an
encoder at a camera's bitrate keeps them clean). The rest of the frame is mid grey.
:func:`read_clock` decodes it from any RGB/BGR/grey picture of the frame at any size that keeps
the aspect ratio (a browser's canvas, ffmpeg's output).

The server (``/usr/bin/python3 tests/support/clock_camera.py --port N``; Debian's Python has
the GStreamer bindings, the venv does not) is gst-rtsp-server, as tests/support/rtsp_server.py
runs it: ``appsrc`` (frames painted when made, pushed at :data:`FPS` on the wall clock) ->
``openh264enc`` (GOP :data:`GOP_FRAMES`) -> ``rtph264pay``, one pipeline per client, mount
``/clock``. Use :class:`ClockCamera` from the tests; only the standard library is imported at
module level (numpy in :func:`read_clock`, gi in :func:`serve`).
"""

from __future__ import annotations

import argparse
import select
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 10
GOP_FRAMES = 10  # a keyframe a second, as cameras are set for low-latency live view
BITRATE = 1_000_000  # bits/s
COLUMNS, ROWS = 20, 3
DATA_BITS, CHECK_BITS = 48, 12
BLACK_Y, WHITE_Y, GREY_Y = 16, 235, 128  # video-range luma
SYSTEM_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_S = 15.0


def clock_bits(ms: int) -> list[int]:
    """The 60 bits of the code for Unix time ``ms`` (milliseconds, 0 <= ms < 2**48)."""
    if not 0 <= ms < 1 << DATA_BITS:
        raise ValueError(f"expected 0 <= ms < 2**{DATA_BITS}, got {ms}")
    check = zlib.crc32(ms.to_bytes(6, "big")) & ((1 << CHECK_BITS) - 1)
    word = (ms << CHECK_BITS) | check
    return [(word >> (DATA_BITS + CHECK_BITS - 1 - i)) & 1 for i in range(DATA_BITS + CHECK_BITS)]


def paint_i420(ms: int, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """One I420 frame (Y, then U and V at half size) showing the code of ``ms``."""
    block = width // COLUMNS
    if block * ROWS > height or width % 2 or height % 2:
        raise ValueError(f"expected an even frame at least {ROWS}/{COLUMNS} as high as wide, "
                         f"got {width}x{height}")  # fmt: skip
    bits = clock_bits(ms)
    rows = []
    for r in range(ROWS):
        line = b"".join(
            bytes([WHITE_Y if bits[r * COLUMNS + c] else BLACK_Y]) * block for c in range(COLUMNS)
        )
        line += bytes([GREY_Y]) * (width - len(line))
        rows.append(line * block)
    luma = b"".join(rows) + bytes([GREY_Y]) * (width * (height - ROWS * block))
    return luma + bytes([128]) * (width * height // 2)


def read_clock(image: np.ndarray) -> float:
    """The wall clock (Unix seconds) coded at the top of ``image`` (HxW grey or HxWxC colour,
    uint8, any size with the frame's aspect ratio); ValueError if the check does not match."""
    import numpy as np

    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey[:, :, :3].mean(axis=2)
    height, width = grey.shape
    block = width / COLUMNS
    if block * ROWS > height:
        raise ValueError(f"expected a frame at least {ROWS}/{COLUMNS} as high as wide, "
                         f"got {width}x{height}")  # fmt: skip
    bits = []
    for r in range(ROWS):
        for c in range(COLUMNS):
            y0, x0 = int((r + 0.3) * block), int((c + 0.3) * block)
            y1, x1 = max(y0 + 1, int((r + 0.7) * block)), max(x0 + 1, int((c + 0.7) * block))
            bits.append(1 if float(grey[y0:y1, x0:x1].mean()) > 127.5 else 0)
    word = int("".join(map(str, bits)), 2)
    ms, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    if clock_bits(ms)[DATA_BITS:] != [(check >> (CHECK_BITS - 1 - i)) & 1 for i in range(12)]:
        raise ValueError(
            f"expected the clock code at the top of the {width}x{height} picture, got blocks "
            f"whose check does not match ({''.join(map(str, bits))}): not a clock camera frame, "
            "or damaged by scaling or a too low bitrate"
        )
    return ms / 1000.0


class ClockCamera:
    """The clock camera as a subprocess on a free port; ``url`` once :meth:`start` returned."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"rtsp://127.0.0.1:{self.port}/clock"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())

    def start(self) -> ClockCamera:
        """Start serving and wait for its "ready" line; RuntimeError with its log if none."""
        cmd = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--port", str(self.port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log)
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            readable, _, _ = select.select([proc.stdout], [], [], 0.1)
            if readable and proc.stdout.readline().strip() == b"ready":
                self._proc = proc
                return self
        proc.kill()
        proc.wait()
        self._log.seek(0)
        raise RuntimeError(
            f"clock camera on port {self.port} not ready after {READY_TIMEOUT_S:g} s (exit "
            f"{proc.returncode}); it needs Debian's GStreamer RTSP server and openh264enc "
            f"(make system-deps): {self._log.read().decode(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        self._log.close()

    def __enter__(self) -> ClockCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


LAUNCH = (
    f"( appsrc name=src is-live=true format=time do-timestamp=true "
    f"caps=video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1 "
    f"! openh264enc bitrate={BITRATE} gop-size={GOP_FRAMES} complexity=low "
    f"! video/x-h264,profile=constrained-baseline ! h264parse "
    f"! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def serve(port: int) -> int:
    """Run the RTSP server until SIGTERM; prints "ready" once listening."""
    import signal

    import gi  # type: ignore[import-not-found]  # Debian's Python only

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]

    Gst.init(None)
    period = 1.0 / FPS

    def need_data(src: Any, _length: int) -> None:
        # appsrc's streaming thread asks for a frame: wait for the next tick of the wall clock,
        # paint that moment, push it (do-timestamp stamps it with the running time now)
        now = time.time()
        time.sleep(period - now % period)
        ms = int(time.time() * 1000)
        src.emit("push-buffer", Gst.Buffer.new_wrapped(paint_i420(ms)))

    def configure(_factory: Any, media: Any) -> None:
        media.get_element().get_by_name("src").connect("need-data", need_data)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LAUNCH)
    factory.set_shared(False)
    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory("/clock", factory)
    if server.attach(None) == 0:
        print(f"clock_camera: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the clock camera at rtsp://.../clock.")
    parser.add_argument("--port", type=int, required=True)
    sys.exit(serve(parser.parse_args().port))

"""Simulated RTSP cameras: serve H.264 MP4 files in a loop, by stream copy (no re-encoding).

Run with Debian's Python (the GStreamer bindings are not in the venv):

    /usr/bin/python3 samples/rtsp_server.py --port 8554 --mount cam1=a.mp4 --mount cam2=b.mp4

serves rtsp://127.0.0.1:8554/cam1 ... and prints "ready" once listening; SIGTERM or SIGINT stop
it. Build camera-like files with samples/make_streams.py (H.264, no B-frames, GOP 2 s).

Looping: each media does a segment seek to 0 when prepared and again on every SEGMENT_DONE.
A non-flushing segment seek keeps the running time, hence the RTP timestamps, increasing, so
a client sees one endless stream, as from a camera.

Each client gets its own pipeline (shared=False). A pipeline is only a demuxer, a parser and a
payloader (stream copy: no decoding), so it costs little, and a camera simulation has one client
per mount anyway. A shared pipeline would let one client's PLAY (which may seek a file source)
disturb another client of the same mount, and a reconnecting client would inherit the state of
the last one.

Needs Debian packages: gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)  # before LoopingMedia is registered: its vfuncs take GstMessage

LAUNCH = (
    '( filesrc location="{path}" ! qtdemux ! h264parse '
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


class LoopingMedia(GstRtspServer.RTSPMedia):  # type: ignore[misc]  # GObject subclass
    """An RTSP media that restarts its file at the end without a flush or new timestamps."""

    __gtype_name__ = "SiteWatchLoopingMedia"

    def _pay_sink(self) -> Gst.Pad:
        return self.get_element().get_by_name("pay0").get_static_pad("sink")

    def _seek_to_start(self, flags: Gst.SeekFlags) -> None:
        # Sent up from the payloader: a seek on the pipeline enters at the sinks and stops
        # in rtpbin, never reaching the demuxer.
        seek = Gst.Event.new_seek(
            1.0, Gst.Format.TIME, flags | Gst.SeekFlags.SEGMENT,
            Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1,
        )  # fmt: skip
        if not self._pay_sink().push_event(seek):
            print("rtsp_server: loop seek refused; the stream will end", file=sys.stderr)

    def do_prepared(self) -> None:
        # A flushing segment seek before PLAY, so the file ends with SEGMENT_DONE, not EOS.
        self._seek_to_start(Gst.SeekFlags.FLUSH)
        # The flush clears the stream's segment until the first frame is through again; a
        # PLAY before that aborts gst-rtsp-server (1.22: "assertion failed" in get_rates).
        stream = self.get_stream(0)
        for _ in range(1000):
            if stream.get_rates()[0]:
                return
            time.sleep(0.002)
        print("rtsp_server: no segment 2 s after the loop seek", file=sys.stderr)

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type != Gst.MessageType.SEGMENT_DONE:
            return bool(GstRtspServer.RTSPMedia.do_handle_message(self, message))
        # The demuxer starts the next loop at the running time of the last frame, not after
        # it: shift the next loop by one frame so that no two frames share a timestamp.
        pad = self._pay_sink()
        ok, num, den = pad.get_current_caps().get_structure(0).get_fraction("framerate")
        if ok and num > 0:
            pad.set_offset(pad.get_offset() + Gst.util_uint64_scale(Gst.SECOND, den, num))
        self._seek_to_start(Gst.SeekFlags.NONE)  # no flush: running time carries on
        return True


def parse_mount(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.mp4, got {text!r}")
    if not Path(path).is_file() or '"' in path:
        raise argparse.ArgumentTypeError(f"no file {path!r} for mount {name!r} (or a '\"' in it)")
    return name, Path(path).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve H.264 MP4 files as looping RTSP cameras.")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument(
        "--mount", type=parse_mount, action="append", required=True, metavar="NAME=FILE.mp4",
        help="serve FILE at rtsp://127.0.0.1:PORT/NAME",
    )  # fmt: skip
    args = parser.parse_args(argv)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for name, path in args.mount:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(path=path))
        factory.set_shared(False)
        factory.set_media_gtype(LoopingMedia.__gtype__)
        mounts.add_factory(f"/{name}", factory)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

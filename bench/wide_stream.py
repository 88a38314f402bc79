"""A sparse 1080p main stream for ``bench/edge_throughput.py --wide-scene sparse``.

The realistic set's ``wide1080`` frames (``neuhardhat`` val photos pasted at about their own
size into wide 1920x1080 scenes: a few workers, mostly ground, steel and sky), the first
``FRAMES`` in name order, each shown ``SECONDS_EACH`` s, encoded as the camera-like main stream
of samples/make_streams.py (built once, under build/streams/, git-ignored). Builds the
``wide1080`` part first when it is missing (needs ../shared).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.violation_clip import camera_streams

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 40
SECONDS_EACH = 2.0
PART = ROOT / "build" / "realistic" / "wide1080"


def _slides(out_dir: Path) -> Path:
    """The frames as one clip (lossless-enough MJPEG), rebuilt when the frame list changes."""
    if not (PART / "DONE").is_file():
        subprocess.run([sys.executable, "-m", "bench.realistic_set", "wide1080"], check=True)
    frames = sorted((PART / "images" / "val").glob("*.jpg"))[:FRAMES]
    if len(frames) < FRAMES:
        raise SystemExit(f"bench: {PART} holds {len(frames)} frames, expected {FRAMES} or more")
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "wide1080_slides.txt"
    text = "".join(f"file '{f}'\nduration {SECONDS_EACH:g}\n" for f in frames)
    text += f"file '{frames[-1]}'\n"  # the concat demuxer's last duration needs a last file
    clip = out_dir / "wide1080_slides.mkv"
    if clip.is_file() and listing.is_file() and listing.read_text() == text:
        return clip
    listing.write_text(text)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat"]
    cmd += ["-safe", "0", "-i", str(listing), "-vf", "fps=25", "-c:v", "mjpeg", "-q:v", "2"]
    subprocess.run([*cmd, str(clip)], check=True)
    return clip


def sparse_main_stream() -> Path:
    """Path of the sparse 1920x1080 H.264 stream (built if not cached)."""
    return camera_streams(_slides(ROOT / "build" / "streams"))["main"]


if __name__ == "__main__":
    print(sparse_main_stream())

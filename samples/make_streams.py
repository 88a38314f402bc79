"""Build camera-like H.264 test streams from a clip with the ffmpeg CLI, once per input.

Each variant is what an IP camera sends: H.264 Main profile without B-frames (IPPP, like most
cameras in their default low-latency setting; also plays in browsers), 25 fps, a key frame every
2 s (GOP 50), no audio. The output name carries a hash of the input file and the settings, so a
stream is built once and rebuilt only when the clip or the settings change.

    python samples/make_streams.py --out build/streams ../shared/clips/factory_floor_cctv.mp4
    python samples/make_streams.py --out build/streams --variant sub --duration 10 CLIP

prints one built path per line (``<clip>_<variant>[_<duration>s]_<hash>.mp4``). Standard
library only, so it runs with the venv's Python or Debian's. Built files belong under
build/streams/ (git-ignored): the clips are third-party and never committed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

VARIANTS: dict[str, tuple[int, int]] = {"sub": (640, 360), "main": (1920, 1080)}
FPS = 25
GOP = 2 * FPS


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_stream(clip: Path, out_dir: Path, variant: str, duration: float | None = None) -> Path:
    """Path of ``clip`` re-encoded as the ``variant`` stream, building it if not cached."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
    if not clip.is_file():
        raise FileNotFoundError(f"clip {clip} not found")
    width, height = VARIANTS[variant]
    encode = [
        "-an",
        "-vf", f"scale={width}:{height},setsar=1,fps={FPS}",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0",
        "-threads", "2", "-movflags", "+faststart",
    ]  # fmt: skip
    cut = ["-t", f"{duration:g}"] if duration is not None else []
    key = hashlib.sha256(f"{_file_hash(clip)}|{cut}|{encode}".encode()).hexdigest()[:12]
    tag = f"_{duration:g}s" if duration is not None else ""
    out = out_dir / f"{clip.stem}_{variant}{tag}_{key}.mp4"
    if out.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.mp4")
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-stream_loop", "-1"] if cut else []  # a cut may be longer than the clip
    cmd += ["-i", str(clip), *cut, *encode, str(tmp)]
    try:
        subprocess.run(cmd, check=True)
        tmp.replace(out)  # atomic: a concurrent builder never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path, help="H.264/any video clips to convert")
    parser.add_argument("--out", type=Path, default=Path("build/streams"), help="output folder")
    parser.add_argument(
        "--variant", action="append", choices=sorted(VARIANTS), help="default: sub and main"
    )
    parser.add_argument("--duration", type=float, help="seconds to keep (loops a short clip)")
    args = parser.parse_args(argv)
    for clip in args.clips:
        for variant in args.variant or sorted(VARIANTS, reverse=True):
            try:
                print(build_stream(clip, args.out, variant, args.duration), flush=True)
            except (OSError, ValueError, subprocess.CalledProcessError) as exc:
                print(f"make_streams: {clip} ({variant}): {exc}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

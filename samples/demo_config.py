"""The demo's edge config across runs: what the console changed in it is kept.

var/demo/cameras.yaml is derived from configs/cameras.yaml (or from the cameras named on the
command line) on the first run, and ``cameras.yaml.source`` beside it holds a fingerprint of
what it was derived from. A later run from the same source keeps the file's ``version`` and
``cameras`` (the zones, rules and cameras the console changed, and the version the edge gave
them), and writes afresh only what each run decides (ports, model, broker login, keys); the
local RTSP URLs follow this run's port. A changed source starts again from it, the old file
kept as ``cameras.yaml.old``. Delete var/demo/cameras.yaml to start again by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

LOCAL_RTSP = re.compile(r"rtsp://127\.0\.0\.1:\d+/")
"""The demo's own cameras (samples/rtsp_server.py): their port may change from run to run."""


def fingerprint(base_text: str, cameras: list[dict[str, Any]] | None) -> str:
    """What a derived config comes from: the base file's text and the cameras given (None: the
    base file's), the local RTSP port left out."""
    given = LOCAL_RTSP.sub("rtsp://127.0.0.1:PORT/", json.dumps(cameras, sort_keys=True))
    return hashlib.sha256(f"{base_text}\n{given}".encode()).hexdigest()


def _stamp(out: Path) -> Path:
    return out.with_name(out.name + ".source")


def kept(out: Path, source: str) -> tuple[dict[str, Any] | None, str | None]:
    """The ``version`` and ``cameras`` of an earlier run's ``out`` derived from ``source``, and
    a line for the user when an earlier file is set aside instead (None, None: first run)."""
    if not out.is_file():
        return None, None
    stamp = _stamp(out)
    same = stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == source
    raw: Any = None
    if same:
        try:
            raw = yaml.safe_load(out.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raw = None
    if isinstance(raw, dict) and isinstance(raw.get("cameras"), list):
        return {"version": raw.get("version", 1), "cameras": raw["cameras"]}, None
    old = out.with_name(out.name + ".old")
    out.replace(old)
    why = "its source changed" if not same else "it could not be read"
    return None, f"{out} set aside as {old.name} ({why}): starting again from the source"


def with_port(cameras: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    """``cameras`` with their local RTSP URLs on ``port``."""
    local = f"rtsp://127.0.0.1:{port}/"
    return [
        {k: LOCAL_RTSP.sub(local, v) if isinstance(v, str) else v for k, v in cam.items()}
        for cam in cameras
    ]


def stamp(out: Path, source: str) -> None:
    """Record what ``out`` was derived from."""
    _stamp(out).write_text(source + "\n", encoding="utf-8")

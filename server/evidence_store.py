"""The evidence store on disk: files staged on arrival, verified against the SHA-256 their
alert lists, then moved into place atomically.

Layout under ``evidence_dir``:

- ``_incoming/<site>/<alert_id>/<name>``: bytes that arrived before the alert message listing
  them (the edge sends evidence first), kept until that message comes or they grow stale;
- ``<site>/<alert_id>/<name>``: verified evidence, what the API serves;
- ``_cameras/<site>/<camera>.jpg``: each camera's latest snapshot.

Every path is built from ids checked against the contract's patterns and checked again to stay
inside ``evidence_dir``. Paths stored in the database are absolute.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from server.ingest_topics import check_alert_id, check_id, check_name

INCOMING = "_incoming"
CAMERAS = "_cameras"
JPEG_MAGIC = b"\xff\xd8\xff"


class UnsafePath(ValueError):
    """A path that would leave the evidence directory."""


@dataclass(frozen=True)
class Verdict:
    """What a staged file turned out to be: ``path`` is set when it matched and was stored."""

    size_bytes: int
    sha256: str
    path: Path | None

    @property
    def ok(self) -> bool:
        return self.path is not None


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder: readers see the
    old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_digest(path: Path) -> tuple[int, str]:
    """Size and lower-hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


class EvidenceStore:
    """Evidence and camera snapshots under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _inside(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise UnsafePath(f"{'/'.join(parts)!r} would leave the evidence directory {self.root}")
        return path

    def staged_path(self, site_id: str, alert_id: str, name: str) -> Path:
        return self._inside(
            INCOMING, check_id(site_id, "site id"), check_alert_id(alert_id), check_name(name)
        )

    def final_path(self, site_id: str, alert_id: str, name: str) -> Path:
        return self._inside(
            check_id(site_id, "site id"), check_alert_id(alert_id), check_name(name)
        )

    def snapshot_path(self, site_id: str, camera_id: str) -> Path:
        return self._inside(
            CAMERAS, check_id(site_id, "site id"), check_id(camera_id, "camera id") + ".jpg"
        )

    def stage(self, site_id: str, alert_id: str, name: str, data: bytes) -> Path:
        """Keep arrived bytes until the alert that lists them is known (a repeat overwrites)."""
        path = self.staged_path(site_id, alert_id, name)
        write_atomically(path, data)
        return path

    def promote(
        self, site_id: str, alert_id: str, name: str, sha256: str, size_bytes: int
    ) -> Verdict | None:
        """Verify the staged file against the listed size and SHA-256: move it into place if
        it matches, delete it if not. None when nothing is staged under that name."""
        staged = self.staged_path(site_id, alert_id, name)
        final = self.final_path(site_id, alert_id, name)
        if not staged.is_file():
            if final.is_file():  # moved in by an attempt whose transaction did not commit
                size, digest = file_digest(final)
                if size == size_bytes and digest == sha256:
                    return Verdict(size, digest, final)
            return None
        size, digest = file_digest(staged)
        if size != size_bytes or digest != sha256:
            staged.unlink(missing_ok=True)
            return Verdict(size, digest, None)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        _remove_empty_dirs(staged.parent, self.root / INCOMING)
        return Verdict(size, digest, final)

    def write_snapshot(self, site_id: str, camera_id: str, data: bytes) -> Path:
        """Store a camera's latest JPEG; :class:`ValueError` if the bytes are not a JPEG."""
        if not data.startswith(JPEG_MAGIC):
            raise ValueError(
                f"expected JPEG bytes (starting ff d8 ff), got {len(data)} bytes starting "
                f"{data[:4].hex(' ') or 'nothing'}; the edge must publish the camera's JPEG"
            )
        path = self.snapshot_path(site_id, camera_id)
        write_atomically(path, data)
        return path

    def delete(self, path: Path) -> bool:
        """Delete one stored file (inside the store only); True if it was there."""
        target = path.resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise UnsafePath(f"{path} is outside the evidence directory {self.root}")
        existed = target.is_file()
        target.unlink(missing_ok=True)
        _remove_empty_dirs(target.parent, self.root)
        return existed

    def sweep_incoming(self, max_age_s: float, now: float | None = None) -> int:
        """Delete staged files older than ``max_age_s`` (no alert ever listed them)."""
        cutoff = (time.time() if now is None else now) - max_age_s
        incoming = self.root / INCOMING
        removed = 0
        if not incoming.is_dir():
            return 0
        for path in sorted(incoming.rglob("*"), reverse=True):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed


def _remove_empty_dirs(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents while empty, up to (not including) ``stop``."""
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent

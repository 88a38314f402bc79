"""Chain of custody on disk: an evidence file leaves the console (view, download, export) only
while its bytes still match the SHA-256 the edge sent with it.

Hashing a clip on every range request of a seeking player would be wasteful, so a verified
hash is remembered per file together with its ``stat`` (inode, size, mtime and ctime — ctime
cannot be set back by hand, so any write to the file makes it hash again).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Final

from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, Camera, Evidence

CHUNK: Final = 1 << 20


class EvidenceUnavailable(Exception):
    """The file cannot be served; ``status`` is the HTTP status, ``str()`` says why in English,
    ``code`` and ``params`` say it for the page (sitewatch/console/error_codes.py)."""

    def __init__(self, status: int, message: str, code: str, name: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.params = {"name": name}


class Tampered(EvidenceUnavailable):
    def __init__(self, name: str, expected: str, found: str) -> None:
        super().__init__(
            409,
            f"evidence file {name!r} no longer matches the SHA-256 it arrived with "
            f"(expected {expected}, found {found}): it was changed on disk, so it is not "
            "served; restore it from a backup and tell an admin (this was logged)",
            "evidence.tampered",
            name,
        )
        self.expected = expected
        self.found = found


def stored_path(settings: Settings, path: str) -> Path:
    """A stored path: absolute as is, relative ones under ``settings.evidence_dir``."""
    p = Path(path)
    return p if p.is_absolute() else settings.evidence_dir / p


def evidence_path(settings: Settings, alert: Alert, ev: Evidence) -> Path:
    """Where ``ev`` lies: its recorded path, else ``<evidence_dir>/<site>/<alert>/<name>``."""
    if ev.path:
        return stored_path(settings, ev.path)
    return settings.evidence_dir / alert.site_id / alert.id / ev.name


def snapshot_path(settings: Settings, camera: Camera) -> Path | None:
    return stored_path(settings, camera.snapshot_path) if camera.snapshot_path else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


_StatKey = tuple[int, int, int, int, int]
_verified: dict[str, tuple[_StatKey, str]] = {}
_lock = threading.Lock()


def _stat_key(path: Path) -> _StatKey:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class NotOnThisBackend(EvidenceUnavailable):
    """A feature that reads evidence as local files, asked for it on the S3 backend."""

    def __init__(self, name: str) -> None:
        super().__init__(
            501,
            f"evidence {name!r} is kept in S3 (SITEWATCH_EVIDENCE_BACKEND=s3), and this "
            "feature (the export package, the evidence report, training data) reads evidence "
            "as local files: not supported on S3 yet; view or download the files one by one",
            "evidence.backend_unsupported",
            name,
        )


def verified_file(settings: Settings, alert: Alert, ev: Evidence) -> Path:
    """The path of ``ev`` after checking its status and its bytes; raises
    :class:`EvidenceUnavailable` (or :class:`Tampered`) when it must not be served, and
    :class:`NotOnThisBackend` when evidence is not on the filesystem."""
    check_status(ev)
    if settings.evidence_backend != "fs":
        raise NotOnThisBackend(ev.name)
    path = evidence_path(settings, alert, ev)
    try:
        key = _stat_key(path)
    except FileNotFoundError:
        raise EvidenceUnavailable(
            410,
            f"evidence {ev.name!r} is recorded as stored but its file {path} is missing: "
            "restore it from a backup and tell an admin",
            "evidence.file_missing",
            ev.name,
        ) from None
    with _lock:
        known = _verified.get(str(path))
    if known is not None and known[0] == key and known[1] == ev.sha256:
        return path
    found = sha256_file(path)
    if found != ev.sha256:
        raise Tampered(ev.name, ev.sha256, found)
    with _lock:
        _verified[str(path)] = (key, found)
    return path


def check_status(ev: Evidence) -> None:
    """:class:`EvidenceUnavailable` unless ``ev`` is recorded as stored (whatever the backend)."""
    if ev.status == "expected":
        raise EvidenceUnavailable(
            404,
            f"evidence {ev.name!r} has not arrived from the edge yet: try again shortly",
            "evidence.not_arrived",
            ev.name,
        )
    if ev.status == "mismatch":
        raise EvidenceUnavailable(
            409,
            f"evidence {ev.name!r} arrived with another SHA-256 than the alert listed and "
            "was refused at ingest; the edge keeps resending it until a good copy arrives",
            "evidence.refused_at_ingest",
            ev.name,
        )
    if ev.status == "deleted":
        raise EvidenceUnavailable(
            410,
            f"evidence {ev.name!r} was deleted when its retention period passed",
            "evidence.deleted",
            ev.name,
        )

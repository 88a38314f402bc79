"""Chain of custody off the filesystem (``SITEWATCH_EVIDENCE_BACKEND=s3``): an evidence file
leaves the console only while its stored bytes still hash to the SHA-256 the edge sent.

Every whole-file read is hashed again (S3 lists no inode or ctime, and its last-write time is
to the second, so a rewrite to the same size within that second would pass a cache). Only a
seeking player's later range requests (``cached_ok``) may use the hash remembered per key with
the object's size and last-write time, so that a seek does not read the whole clip.
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePosixPath

from sitewatch.console.domain.custody import EvidenceUnavailable, Tampered, check_status
from sitewatch.console.settings import Settings
from sitewatch.console.store.blobs import BlobError, BlobStore
from sitewatch.console.store.models import Alert, Camera, Evidence

_verified: dict[str, tuple[int, float, str]] = {}
_lock = threading.Lock()


def stored_key(settings: Settings, path: str) -> str | None:
    """The blob key of a stored path: a relative path is the key itself; an absolute one (a
    row written while evidence was on the filesystem) is its part under ``evidence_dir``,
    None if it lies elsewhere."""
    p = Path(path)
    if not p.is_absolute():
        return PurePosixPath(path).as_posix()
    try:
        return p.relative_to(settings.evidence_dir.resolve()).as_posix()
    except ValueError:
        return None


def evidence_key(settings: Settings, alert: Alert, ev: Evidence) -> str | None:
    """The key of ``ev``: its recorded path's, else ``<site>/<alert>/<name>``."""
    if ev.path:
        return stored_key(settings, ev.path)
    return f"{alert.site_id}/{alert.id}/{ev.name}"


def snapshot_key(settings: Settings, camera: Camera) -> str | None:
    """The key of the camera's latest snapshot, None if it has none."""
    return stored_key(settings, camera.snapshot_path) if camera.snapshot_path else None


def _missing(ev: Evidence, where: str) -> EvidenceUnavailable:
    return EvidenceUnavailable(
        410,
        f"evidence {ev.name!r} is recorded as stored but {where}: restore it from a backup "
        "and tell an admin",
        "evidence.file_missing",
        ev.name,
    )


def verified_blob(
    settings: Settings, blobs: BlobStore, alert: Alert, ev: Evidence, cached_ok: bool = False
) -> tuple[str, int]:
    """The key and size (bytes) of ``ev`` after checking its status and its bytes (read in
    full unless ``cached_ok`` and they were, unchanged since); raises
    :class:`EvidenceUnavailable` (or :class:`Tampered`) when it must not be served."""
    check_status(ev)
    key = evidence_key(settings, alert, ev)
    if key is None:
        raise _missing(ev, f"its path {ev.path} is not under the evidence store")
    try:
        entry = next((e for e in blobs.list(key) if e.key == key), None)
    except BlobError:  # a key the store refuses cannot hold the file
        entry = None
    if entry is None:
        raise _missing(ev, f"the object {key} is not in the store")
    with _lock:
        known = _verified.get(key)
    if cached_ok and known == (entry.size, entry.modified_s, ev.sha256):
        return key, entry.size
    size, found = blobs.digest(key)
    if found != ev.sha256:
        with _lock:
            _verified.pop(key, None)  # no later seek may trust an earlier verification
        raise Tampered(ev.name, ev.sha256, found)
    with _lock:
        _verified[key] = (size, entry.modified_s, found)
    return key, size

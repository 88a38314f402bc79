"""The evidence store: files staged on arrival, verified against the SHA-256 their alert
lists, then moved into place atomically, in a blob store (:mod:`.blobs`: the files under
``evidence_dir`` by default, or an S3 bucket; docs/design/evidence-storage.md).

Keys: ``_incoming/<site>/<alert_id>/<name>`` (bytes that came before their listing),
``<site>/<alert_id>/<name>`` (verified evidence, what the API serves) and
``_cameras/<site>/<camera>.jpg`` (each camera's latest snapshot), all built from ids checked
against the contract's patterns; paths stored in the database are absolute files under
``evidence_dir`` (off the filesystem: the bare key). Sizes in bytes.

Bounds (:class:`Quota`): a file or snapshot over its limit is refused before anything is
written; an alert holds at most ``alert_files`` files and ``alert_bytes``; a site's staged
bytes and files stay under ``site_staged_bytes`` / ``site_staged_files`` (its oldest staged
files go first, counted in ``evicted``). Why: docs/design/console-evidence.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sitewatch.console.ids import check_alert_id, check_id, check_name
from sitewatch.console.store.blobs import BlobStore, Expect, FileBlobStore, UnsafeKey, check_key
from sitewatch.contract.messages import MAX_EVIDENCE_FILES

log = logging.getLogger(__name__)
MIB = 1 << 20
INCOMING = "_incoming"
CAMERAS = "_cameras"
JPEG_MAGIC = b"\xff\xd8\xff"


UnsafePath = UnsafeKey
"""A path that would leave the evidence directory (the blob store's own refusal, so a key
its backend refuses is caught where a path was)."""


class OverQuota(ValueError):
    """Evidence or a snapshot over its size limit: refused, nothing written."""


@dataclass(frozen=True)
class Quota:
    """Limits of the store, in bytes and files (see the module; Settings sets them)."""

    file_bytes: int = 64 * MIB
    snapshot_bytes: int = 2 * MIB
    alert_bytes: int = 256 * MIB
    alert_files: int = MAX_EVIDENCE_FILES
    site_staged_bytes: int = 256 * MIB
    site_staged_files: int = 1000


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


class _Arrival(Protocol):
    """Bytes to stage: ``size`` of them, their SHA-256 on demand, and how to store them."""

    @property
    def size(self) -> int: ...

    def sha256(self) -> str: ...

    def put(self, blobs: BlobStore, key: str) -> None: ...


@dataclass(frozen=True)
class _InMemory:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def put(self, blobs: BlobStore, key: str) -> None:
        blobs.put_bytes(key, self.data)


@dataclass(frozen=True)
class _InFile:
    """Streamed from ``path``, never held whole; ``size`` as it was when it arrived."""

    path: Path
    size: int

    def sha256(self) -> str:
        return file_digest(self.path)[1]

    def put(self, blobs: BlobStore, key: str) -> None:
        blobs.put_file(key, self.path, Expect(size=self.size))  # a file that grew: refused


class EvidenceStore:
    """Evidence and camera snapshots in one blob store (by default the files under ``root``).

    Every file lives under a key ``<site>/<alert>/<name>``, ``_incoming/...`` or
    ``_cameras/...`` of ``blobs`` (:mod:`sitewatch.console.store.blobs`); a returned or
    stored path is ``root/<key>`` for the filesystem backend (as ever) and the bare key,
    relative, for another (resolved by its backend, not the disk)."""

    def __init__(self, root: Path, quota: Quota | None = None, blobs: BlobStore | None = None):
        self.root = root.resolve()
        self.quota = quota or Quota()
        self.blobs = blobs or FileBlobStore(self.root)
        self.evicted = 0  # staged files dropped oldest-first for their site's quota
        self._evicting: set[str] = set()  # sites warned about since their last eviction

    def _inside(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise UnsafePath(f"{'/'.join(parts)!r} would leave the evidence directory {self.root}")
        return path

    def _where(self, key: str) -> Path:
        """What callers keep for ``key``: its file, or the key itself off the filesystem."""
        return self._inside(key) if isinstance(self.blobs, FileBlobStore) else Path(key)

    def _key(self, path: Path) -> str:
        """The key of a path :meth:`_where` gave (:class:`UnsafePath` for any other)."""
        if path.is_absolute():
            target = path.resolve()
            if target == self.root or not target.is_relative_to(self.root):
                raise UnsafePath(f"{path} is outside the evidence directory {self.root}")
            path = target.relative_to(self.root)
        try:
            return check_key(path.as_posix())
        except UnsafeKey as exc:
            raise UnsafePath(str(exc)) from None

    @staticmethod
    def staged_key(site_id: str, alert_id: str, name: str) -> str:
        site, alert = check_id(site_id, "site id"), check_alert_id(alert_id)
        return f"{INCOMING}/{site}/{alert}/{check_name(name)}"

    @staticmethod
    def final_key(site_id: str, alert_id: str, name: str) -> str:
        site, alert = check_id(site_id, "site id"), check_alert_id(alert_id)
        return f"{site}/{alert}/{check_name(name)}"

    def staged_path(self, site_id: str, alert_id: str, name: str) -> Path:
        return self._inside(self.staged_key(site_id, alert_id, name))

    def final_path(self, site_id: str, alert_id: str, name: str) -> Path:
        return self._inside(self.final_key(site_id, alert_id, name))

    def snapshot_path(self, site_id: str, camera_id: str) -> Path:
        return self._inside(
            CAMERAS, check_id(site_id, "site id"), check_id(camera_id, "camera id") + ".jpg"
        )

    def _sizes(self, prefix: str) -> dict[str, int]:
        """Size of every blob directly under the folder ``prefix`` (ending in ``/``), by name."""
        return {
            e.key[len(prefix) :]: e.size
            for e in self.blobs.list(prefix)
            if "/" not in e.key[len(prefix) :]
        }

    def stage(self, site_id: str, alert_id: str, name: str, data: bytes) -> Path:
        """Keep arrived bytes until the alert that lists them is known (other bytes under the
        same name keep the earlier ones aside, see :meth:`_keep_aside`).

        :class:`OverQuota` if the file or its alert is over its limit (nothing written); the
        site's oldest staged files are deleted first when its staged total would pass its own.
        """
        return self._stage(site_id, alert_id, name, _InMemory(data))

    def stage_file(self, site_id: str, alert_id: str, name: str, path: Path) -> Path:
        """:meth:`stage` for bytes in a file (a finished upload): streamed into the store,
        never held whole in memory; the file itself is left to the caller."""
        return self._stage(site_id, alert_id, name, _InFile(path, path.stat().st_size))

    def _stage(self, site_id: str, alert_id: str, name: str, data: _Arrival) -> Path:
        key = self.staged_key(site_id, alert_id, name)
        q = self.quota
        where = f"evidence {name} of alert {alert_id} (site {site_id})"
        if data.size > q.file_bytes:
            raise OverQuota(
                f"{where}: expected at most {q.file_bytes} bytes per file, got {data.size}: "
                "refused; the edge's clips must be shorter or the console's "
                "SITEWATCH_EVIDENCE_FILE_MAX_BYTES larger"
            )
        final = self.final_key(site_id, alert_id, name)
        alert_files = self._sizes(final.rsplit("/", 1)[0] + "/")
        alert_files.update(self._sizes(key.rsplit("/", 1)[0] + "/"))
        alert_files.pop(name, None)
        if len(alert_files) + 1 > q.alert_files:
            raise OverQuota(
                f"{where}: expected at most {q.alert_files} files per alert, it has "
                f"{len(alert_files)} already: refused; an edge sends a handful per alert"
            )
        if sum(alert_files.values()) + data.size > q.alert_bytes:
            raise OverQuota(
                f"{where}: expected at most {q.alert_bytes} bytes per alert, it has "
                f"{sum(alert_files.values())} and this file {data.size}: refused; raise "
                "SITEWATCH_EVIDENCE_ALERT_MAX_BYTES if the edge's evidence is that large"
            )
        self._make_room(site_id, key, data.size)
        self._keep_aside(key, data)
        data.put(self.blobs, key)
        return self._where(key)

    def _make_room(self, site_id: str, keep: str, size: int) -> None:
        """Delete the site's oldest staged files until ``size`` more bytes fit its quota."""
        q = self.quota
        if size > q.site_staged_bytes:
            raise OverQuota(
                f"evidence of {size} bytes for site {site_id}: expected at most "
                f"{q.site_staged_bytes} staged bytes per site: refused (raise "
                "SITEWATCH_EVIDENCE_STAGED_SITE_MAX_BYTES if files are that large)"
            )
        site = f"{INCOMING}/{check_id(site_id, 'site id')}/"
        staged = sorted(
            (e.modified_s, e.key, e.size)
            for e in self.blobs.list(site)
            if e.key != keep and e.key.count("/") == 3  # _incoming/<site>/<alert>/<name>
        )
        total = sum(s for _, _, s in staged)
        count, deleted = len(staged), 0
        while staged and (total + size > q.site_staged_bytes or count + 1 > q.site_staged_files):
            _, oldest, oldest_size = staged.pop(0)
            self.blobs.delete(oldest)
            total, count, deleted = total - oldest_size, count - 1, deleted + 1
        if not deleted:
            self._evicting.discard(site_id)
            return
        self.evicted += deleted
        if site_id not in self._evicting:  # once per run of evictions: the count is a metric
            self._evicting.add(site_id)
            log.warning(
                "site %s: evidence waiting for the alert that lists it passed its quota (%d "
                "bytes, %d files): deleting the oldest (%d now; more are counted in "
                "sitewatch_ingest_evidence_evicted_total); an edge sends the listing right "
                "after its files, so this is a broken or hostile sender",
                site_id,
                q.site_staged_bytes,
                q.site_staged_files,
                deleted,
            )

    def promote(
        self, site_id: str, alert_id: str, name: str, sha256: str, size_bytes: int
    ) -> Verdict | None:
        """Verify the staged bytes of ``name`` against the listed size and SHA-256: the copy
        that matches (the newest, or one an overwrite kept aside) moves into place, every other
        copy is deleted. None when nothing is staged under that name."""
        staged = self.staged_key(site_id, alert_id, name)
        final = self.final_key(site_id, alert_id, name)
        copies = [staged] if self.blobs.exists(staged) else []
        copies += sorted(e.key for e in self.blobs.list(staged + ".") if _aside(e.key, staged))
        if not copies:
            if self.blobs.exists(final):  # moved in by an attempt whose transaction did not commit
                size, digest = self.blobs.digest(final)
                if size == size_bytes and digest == sha256:
                    return Verdict(size, digest, self._where(final))
            return None
        match: str | None = None
        refused = Verdict(0, "", None)
        for copy in copies:
            size, digest = self.blobs.digest(copy)
            if match is None and size == size_bytes and digest == sha256:
                match = copy
                continue
            self.blobs.delete(copy)
            if not refused.sha256:
                refused = Verdict(size, digest, None)
        if match is None:
            return refused
        self.blobs.move(match, final)
        return Verdict(size_bytes, sha256, self._where(final))

    def _keep_aside(self, key: str, data: _Arrival) -> None:
        """Before other bytes overwrite the staged ``key``, keep its bytes as
        ``<name>.<sha256>``: whoever publishes under a file's name after the edge cannot
        erase the edge's copy; the listing's SHA-256 decides (:meth:`promote`)."""
        if not self.blobs.exists(key):
            return
        size, digest = self.blobs.digest(key)
        if size == data.size and digest == data.sha256():
            return
        self.blobs.move(key, f"{key}.{digest}")

    def write_snapshot(self, site_id: str, camera_id: str, data: bytes) -> Path:
        """Store a camera's latest JPEG; :class:`ValueError` if the bytes are not a JPEG or
        are larger than the quota's ``snapshot_bytes``."""
        if len(data) > self.quota.snapshot_bytes:
            raise OverQuota(
                f"expected a snapshot of at most {self.quota.snapshot_bytes} bytes, got "
                f"{len(data)} for camera {camera_id} of site {site_id}: refused; the edge "
                "publishes a scaled-down JPEG (or raise SITEWATCH_SNAPSHOT_MAX_BYTES)"
            )
        if not data.startswith(JPEG_MAGIC):
            raise ValueError(
                f"expected JPEG bytes (starting ff d8 ff), got {len(data)} bytes starting "
                f"{data[:4].hex(' ') or 'nothing'}; the edge must publish the camera's JPEG"
            )
        site, camera = check_id(site_id, "site id"), check_id(camera_id, "camera id")
        key = f"{CAMERAS}/{site}/{camera}.jpg"
        self.blobs.put_bytes(key, data)
        return self._where(key)

    def delete(self, path: Path) -> bool:
        """Delete one stored file (inside the store only); True if it was there."""
        return self.blobs.delete(self._key(path))

    def sweep_incoming(self, max_age_s: float, now: float | None = None) -> int:
        """Delete staged files older than ``max_age_s`` (no alert ever listed them)."""
        cutoff = (time.time() if now is None else now) - max_age_s
        old = [e.key for e in self.blobs.list(INCOMING + "/") if e.modified_s < cutoff]
        return sum(self.blobs.delete(key) for key in old)


def _aside(key: str, staged: str) -> bool:
    """Whether ``key`` is a copy of ``staged`` kept aside by :meth:`EvidenceStore._keep_aside`."""
    rest = key[len(staged) + 1 :]
    return len(rest) == 64 and all(c in "0123456789abcdef" for c in rest)

"""Where evidence and video files live: named byte blobs on a filesystem (one disk, or a
mount shared by the console's replicas) or, in :mod:`.blobs_s3`, an S3-compatible bucket.

A key is ``/``-separated segments matching :data:`SEGMENT_RE` (no empty, ``.``, ``..`` or
hidden segment, no leading ``/``), at most :data:`MAX_KEY_CHARS` long; anything else is
:class:`UnsafeKey` before any I/O. Sizes and offsets in bytes; digests lower-hex SHA-256.

Every backend keeps (tests/component/test_blob_store.py): :meth:`BlobStore.put` streams its
source once, hashing it, and shows a blob only whole; bytes not as :class:`Expect` says are
:class:`DigestMismatch` (past ``max_bytes``: :class:`TooLarge`) and the key keeps what it
held. :meth:`BlobStore.open` clips a range at the end and refuses an offset past it
(:class:`BadRange`). :meth:`BlobStore.list` yields the keys starting with a plain string
prefix, sorted. :func:`~.blob_backends.open_blob_store` picks a backend from
:class:`BlobSettings`. Why this shape: docs/design/evidence-storage.md.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

MIB = 1 << 20
CHUNK_BYTES = MIB  # read and hash in pieces of this size
MAX_KEY_CHARS = 1024  # S3's own limit on an object key (bytes; keys here are ASCII)
SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
PARTIAL_SEGMENT_RE = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,254})?")


class Readable(Protocol):
    """A source or reader of bytes: ``read(n)`` returns at most ``n`` bytes, b"" at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class BlobError(Exception):
    """Base of the store's errors; each says what was expected, what came and what to do."""


class UnsafeKey(BlobError, ValueError):
    """A key or prefix off :data:`SEGMENT_RE`, or one that would leave the store."""


class BlobMissing(BlobError, KeyError):
    """No blob under that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BadRange(BlobError, ValueError):
    """A read range outside the blob."""


class TooLarge(BlobError, ValueError):
    """A put whose source passed ``max_bytes``: refused, nothing stored."""


class DigestMismatch(BlobError, ValueError):
    """A put whose bytes are not the ones expected: nothing stored (``size``/``sha256`` are
    what came, so a caller can log or count them)."""

    def __init__(self, message: str, size: int, sha256: str) -> None:
        super().__init__(message)
        self.size = size
        self.sha256 = sha256


class StorageDenied(BlobError, PermissionError):
    """The backend refused our credentials or access to the bucket."""


class StorageUnavailable(BlobError, ConnectionError):
    """The backend could not be reached or answered something unexpected."""


@dataclass(frozen=True)
class Expect:
    """What a put must receive: ``size`` bytes with SHA-256 ``sha256`` (the signed listing's),
    and never more than ``max_bytes`` (a quota); None checks nothing."""

    sha256: str | None = None
    size: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class BlobInfo:
    """What a put stored: ``size`` in bytes and the SHA-256 of exactly those bytes."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobEntry:
    """One listed blob: ``modified_s`` is its last write, seconds since the epoch."""

    key: str
    size: int
    modified_s: float


def check_key(key: str) -> str:
    """``key`` if it is a safe blob key (see the module), else :class:`UnsafeKey`."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        raise UnsafeKey(
            f"expected a blob key of 1 to {MAX_KEY_CHARS} characters, got {str(key)[:80]!r}"
        )
    for segment in key.split("/"):
        if not SEGMENT_RE.fullmatch(segment):
            raise UnsafeKey(
                f"blob key {key[:80]!r}: segment {segment[:40]!r} must match "
                f"{SEGMENT_RE.pattern} (no empty, '.', '..' or hidden segment, no leading '/'); "
                "build keys from checked ids only"
            )
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is "" or a key's start (whole segments, the last one maybe partial)."""
    if prefix == "":
        return prefix
    *whole, last = prefix.split("/")
    if whole:
        check_key("/".join(whole))
    if len(prefix) > MAX_KEY_CHARS or not PARTIAL_SEGMENT_RE.fullmatch(last):
        raise UnsafeKey(
            f"expected a listing prefix made of key segments ({SEGMENT_RE.pattern}), "
            f"got {prefix[:80]!r}"
        )
    return prefix


class HashingReader:
    """Reads ``source`` through, counting and hashing; refuses bytes past ``max_bytes`` and,
    at the end of the source, bytes that are not the ones expected.

    Raising from :meth:`read` is how a streaming upload is stopped before it is committed:
    the filesystem backend then drops its temporary file, the S3 client aborts its upload.
    """

    def __init__(self, source: Readable, key: str, expect: Expect | None = None) -> None:
        expect = expect or Expect()
        self._source = source
        self._key = key
        self._expect_sha256 = expect.sha256.lower() if expect.sha256 else None
        self._expect_size = expect.size
        self._limit = expect.max_bytes
        self._digest = hashlib.sha256()
        self.size = 0
        self.done = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size if size is not None and size >= 0 else CHUNK_BYTES)
        if chunk:
            self.size += len(chunk)
            self._digest.update(chunk)
            self._check_bounds()
            return chunk
        if not self.done:
            self._check_end()
            self.done = True
        return b""

    def _check_bounds(self) -> None:
        if self._limit is not None and self.size > self._limit:
            raise TooLarge(
                f"blob {self._key}: expected at most {self._limit} bytes, the source passed "
                "that: refused, nothing stored (raise the limit if such files are legitimate)"
            )
        if self._expect_size is not None and self.size > self._expect_size:
            raise DigestMismatch(
                f"blob {self._key}: expected {self._expect_size} bytes as listed, the source "
                f"sent more ({self.size} so far): refused, nothing stored",
                self.size,
                self.sha256,
            )

    def _check_end(self) -> None:
        size_ok = self._expect_size is None or self.size == self._expect_size
        sha_ok = self._expect_sha256 is None or self.sha256 == self._expect_sha256
        if not (size_ok and sha_ok):
            raise DigestMismatch(
                f"blob {self._key}: expected {self._expect_size} bytes with SHA-256 "
                f"{self._expect_sha256}, got {self.size} bytes with SHA-256 {self.sha256}: "
                "refused, nothing stored; the sender must upload the listed file again",
                self.size,
                self.sha256,
            )

    def drain(self) -> None:
        """Read the source to its end (so the end-of-source checks run)."""
        while self.read(CHUNK_BYTES):
            pass

    def info(self) -> BlobInfo:
        return BlobInfo(self._key, self.size, self.sha256)


class BlobStore(ABC):
    """Named byte blobs; see the module for keys, units and the invariants of each verb."""

    @abstractmethod
    def put(self, key: str, source: Readable, expect: Expect | None = None) -> BlobInfo:
        """Store ``source``'s bytes (read to its end, once) under ``key``, if they are what
        ``expect`` says (:class:`DigestMismatch`, :class:`TooLarge`: nothing stored)."""

    @abstractmethod
    def open(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AbstractContextManager[Readable]:
        """A reader of ``length`` bytes from ``offset``; :class:`BlobMissing`,
        :class:`BadRange`."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The blob's size in bytes; :class:`BlobMissing` if there is none."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete the blob; True if it was there."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobEntry]:
        """Every blob whose key starts with ``prefix``, sorted by key."""

    @abstractmethod
    def move(self, source: str, target: str) -> None:
        """Give ``source``'s blob the key ``target`` (replacing what was there)."""

    def put_bytes(self, key: str, data: bytes, expect: Expect | None = None) -> BlobInfo:
        return self.put(key, io.BytesIO(data), expect)

    def put_file(self, key: str, path: Path, expect: Expect | None = None) -> BlobInfo:
        with path.open("rb") as f:
            return self.put(key, f, expect)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of a range, in memory: for small blobs and tests."""
        with self.open(key, offset, length) as f:
            return _read_all(f)

    def chunks(
        self, key: str, offset: int = 0, length: int | None = None, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[bytes]:
        """The bytes of a range in pieces of at most ``chunk_bytes`` (for streamed replies)."""
        with self.open(key, offset, length) as f:
            while chunk := f.read(chunk_bytes):
                yield chunk

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobMissing:
            return False
        return True

    def digest(self, key: str) -> tuple[int, str]:
        """Size and SHA-256 of the stored bytes, read back in full."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.chunks(key):
            size += len(chunk)
            digest.update(chunk)
        return size, digest.hexdigest()


def _read_all(f: Readable) -> bytes:
    parts = []
    while chunk := f.read(CHUNK_BYTES):
        parts.append(chunk)
    return b"".join(parts)


def check_range(key: str, size: int, offset: int, length: int | None) -> int:
    """The number of bytes a read of ``length`` from ``offset`` gets (clipped at the end)."""
    if offset < 0 or (length is not None and length < 0):
        raise BadRange(f"blob {key}: expected offset and length >= 0, got {offset}, {length}")
    if offset > size or (offset == size and size > 0):
        raise BadRange(
            f"blob {key}: offset {offset} is past its end ({size} bytes): ask for a range "
            "inside the blob"
        )
    rest = size - offset
    return rest if length is None else min(length, rest)


class _Window:
    """At most ``remaining`` bytes of an open file, from where it stands."""

    def __init__(self, f: io.BufferedReader, remaining: int) -> None:
        self._f = f
        self._remaining = remaining

    def read(self, size: int = -1, /) -> bytes:
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._f.read(want) if want else b""
        self._remaining -= len(data)
        return data

    def __enter__(self) -> _Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


class FileBlobStore(BlobStore):
    """Blobs as files under ``root``: key ``a/b/c`` is ``root/a/b/c``. Writes go to a hidden
    temporary file in the same folder, fsynced, then ``os.replace``: atomic on one disk and on
    a shared mount (NFS renames within a folder are atomic), so replicas sharing ``root`` see a
    whole file or none. Hidden files (``.*``) are temporaries: never listed, never a key."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """The file of ``key``, checked to stay inside ``root`` (symlinks resolved)."""
        path = self.root.joinpath(*check_key(key).split("/")).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise UnsafeKey(f"blob key {key!r} would leave the store's directory {self.root}")
        return path

    def put(self, key: str, source: Readable, expect: Expect | None = None) -> BlobInfo:
        path = self.path(key)
        reader = HashingReader(source, key, expect)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as f:
                while chunk := reader.read(CHUNK_BYTES):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return reader.info()

    def open(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AbstractContextManager[Readable]:
        path = self.path(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobMissing(f"no blob {key} in {self.root}") from None
        try:
            count = check_range(key, os.fstat(f.fileno()).st_size, offset, length)
            f.seek(offset)
        except BaseException:
            f.close()
            raise
        return _Window(f, count)

    def size(self, key: str) -> int:
        path = self.path(key)
        if not path.is_file():
            raise BlobMissing(f"no blob {key} in {self.root}")
        return path.stat().st_size

    def delete(self, key: str) -> bool:
        path = self.path(key)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        remove_empty_dirs(path.parent, self.root)
        return existed

    def list(self, prefix: str = "") -> Iterator[BlobEntry]:
        check_prefix(prefix)
        folder = self.root.joinpath(*prefix.split("/")[:-1])
        if not folder.is_dir():
            return
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            base = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if base == "." else f"{base}/{name}"
                if name.startswith(".") or not key.startswith(prefix):
                    continue
                try:
                    st = Path(dirpath, name).stat()
                except FileNotFoundError:  # deleted while listing
                    continue
                found.append(BlobEntry(key, st.st_size, st.st_mtime))
        yield from sorted(found, key=lambda e: e.key)

    def move(self, source: str, target: str) -> None:
        src, dst = self.path(source), self.path(target)
        if not src.is_file():
            raise BlobMissing(f"no blob {source} in {self.root} to move to {target}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        remove_empty_dirs(src.parent, self.root)


def remove_empty_dirs(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents while empty, up to (not including) ``stop``."""
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


@dataclass(frozen=True)
class BlobSettings:
    """Which backend holds the files, and how to reach it (the console's Settings fill this;
    see docs/design/evidence-storage.md for the environment variables).

    ``root`` is the filesystem backend's folder. For S3: ``endpoint`` is a URL
    (``https://s3.example.com`` or ``http://127.0.0.1:8333``), ``prefix`` a key prefix inside
    the bucket (several consoles may share one bucket), ``part_bytes`` the multipart part size
    (at least 5 MiB: S3's floor), ``ca_file`` a PEM bundle for a private CA, ``timeout_s`` the
    connect and read timeout of one request.
    """

    backend: Literal["fs", "s3"] = "fs"
    root: Path = Path("data/evidence")
    endpoint: str = ""
    bucket: str = ""
    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    region: str = "us-east-1"
    prefix: str = ""
    part_bytes: int = 16 * MIB
    ca_file: Path | None = None
    timeout_s: float = 30.0

"""The S3-compatible backend of :mod:`sitewatch.console.store.blobs` (AWS S3, MinIO,
SeaweedFS, Garage, Ceph RGW...), through the ``minio`` client (optional extra ``[s3]``).

Key ``a/b`` is object ``<prefix>/a/b`` of the bucket. Uploads stream in parts of
``part_bytes`` (multipart past one part); the SHA-256 is computed on the way, and a source
that turns out not to be the expected bytes raises before the upload completes, so the
client aborts it and the key keeps its old object (S3 makes an object visible only when
its upload completes). Reads ask for exactly the clipped range. The backend's refusals map
to the store's errors: a wrong key pair is :class:`StorageDenied`, an unreachable endpoint
:class:`StorageUnavailable`, each naming the endpoint, the bucket and the setting to fix.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import NoReturn
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from sitewatch.console.store.blobs import (
    MIB,
    BadRange,
    BlobEntry,
    BlobError,
    BlobInfo,
    BlobMissing,
    BlobSettings,
    BlobStore,
    Expect,
    HashingReader,
    Readable,
    StorageDenied,
    StorageUnavailable,
    check_key,
    check_prefix,
    check_range,
)

DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken"}
MISSING = {"NoSuchKey", "ResourceNotFound", "NoSuchObject"}
MIN_PART_BYTES = 5 * MIB  # S3's smallest part but the last


class _Response:
    """A ranged GET's body; closing it hands the connection back to the pool."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def read(self, size: int = -1, /) -> bytes:
        return self._response.read(None if size is None or size < 0 else size)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self._response.close()
        self._response.release_conn()


class _Empty:
    def read(self, size: int = -1, /) -> bytes:
        return b""

    def __enter__(self) -> _Empty:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class S3BlobStore(BlobStore):
    """Blobs as objects of one bucket of an S3-compatible server (see the module)."""

    def __init__(self, settings: BlobSettings) -> None:
        url = urlsplit(settings.endpoint)
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
            raise BlobError(
                f"expected the S3 endpoint as http(s)://host[:port], got "
                f"{settings.endpoint!r}: set SITEWATCH_S3_ENDPOINT"
            )
        if not settings.bucket:
            raise BlobError("expected an S3 bucket name, got none: set SITEWATCH_S3_BUCKET")
        if settings.part_bytes < MIN_PART_BYTES:
            raise BlobError(
                f"expected S3 parts of at least {MIN_PART_BYTES} bytes (S3's floor), got "
                f"{settings.part_bytes}: raise SITEWATCH_S3_PART_BYTES"
            )
        self.endpoint = settings.endpoint.rstrip("/")
        self.bucket = settings.bucket
        self.prefix = check_key(settings.prefix.strip("/")) + "/" if settings.prefix else ""
        self.part_bytes = settings.part_bytes
        self._access_key = settings.access_key
        secure = url.scheme == "https"
        timeout = urllib3.Timeout(connect=settings.timeout_s, read=settings.timeout_s)
        retries = urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])
        pool = urllib3.PoolManager(
            timeout=timeout,
            retries=retries,
            maxsize=16,
            cert_reqs=ssl.CERT_REQUIRED if secure else ssl.CERT_NONE,
            ca_certs=str(settings.ca_file) if settings.ca_file else certifi.where(),
        )
        self._client = Minio(
            url.netloc,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=secure,
            region=settings.region or None,
            http_client=pool,
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, exc: Exception, what: str) -> NoReturn:
        """Raise the store's error for a client or transport failure of ``what``."""
        where = f"S3 bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, S3Error):
            if exc.code in DENIED:
                raise StorageDenied(
                    f"{what}: {where} refused access key {self._access_key!r} ({exc.code}): "
                    "expected the key pair of a user allowed on this bucket; check "
                    "SITEWATCH_S3_ACCESS_KEY and SITEWATCH_S3_SECRET_KEY"
                ) from exc
            if exc.code in MISSING:
                raise BlobMissing(f"{what}: no such object in {where}") from exc
            if exc.code == "NoSuchBucket":
                raise BlobError(
                    f"{what}: {where} does not exist: create it, or fix SITEWATCH_S3_BUCKET"
                ) from exc
            if exc.code == "InvalidRange":
                raise BadRange(f"{what}: range outside the object in {where}") from exc
            raise BlobError(f"{what}: {where} answered {exc.code}: {exc.message}") from exc
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, urllib3.exceptions.SSLError):
            raise StorageUnavailable(
                f"{what}: the TLS certificate of {where} was refused ({reason}): expected one "
                "signed by a trusted CA; set SITEWATCH_S3_CA_FILE to the PEM of a private CA"
            ) from exc
        raise StorageUnavailable(
            f"{what}: could not reach {where} ({type(exc).__name__}: {exc}): expected a "
            "running S3-compatible server there; check SITEWATCH_S3_ENDPOINT and the network"
        ) from exc

    def check(self) -> None:
        """Raise the store's error unless the bucket exists and our credentials may use it."""
        try:
            found = self._client.bucket_exists(self.bucket)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, "checking the evidence bucket")
        if not found:
            raise BlobError(
                f"S3 bucket {self.bucket!r} does not exist at {self.endpoint}: create it, or "
                "fix SITEWATCH_S3_BUCKET"
            )

    def put(self, key: str, source: Readable, expect: Expect | None = None) -> BlobInfo:
        name = self._name(key)
        reader = HashingReader(source, key, expect)
        try:
            self._client.put_object(
                self.bucket,
                name,
                reader,  # type: ignore[arg-type]  # minio wants BinaryIO; it only calls read
                length=-1,
                part_size=self.part_bytes,
                content_type="application/octet-stream",
            )
        except (S3Error, InvalidResponseError, ServerError, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"storing {key}")
        if not reader.done:  # every part is read to a short one, so this is a client change
            raise BlobError(f"storing {key}: the S3 client stopped before the source's end")
        return reader.info()

    def open(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AbstractContextManager[Readable]:
        count = check_range(key, self.size(key), offset, length)
        if count == 0:
            return _Empty()
        try:
            response = self._client.get_object(
                self.bucket, self._name(key), offset=offset, length=count
            )
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"reading {key}")
        return _Response(response)

    def size(self, key: str) -> int:
        try:
            stat = self._client.stat_object(self.bucket, self._name(key))
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"looking up {key}")
        return int(stat.size or 0)

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        try:
            self._client.remove_object(self.bucket, self._name(key))
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"deleting {key}")
        return existed

    def list(self, prefix: str = "") -> Iterator[BlobEntry]:
        full = self.prefix + check_prefix(prefix)
        try:
            for obj in self._client.list_objects(self.bucket, prefix=full, recursive=True):
                name = obj.object_name or ""
                if obj.is_dir or not name.startswith(full):
                    continue
                modified = obj.last_modified.timestamp() if obj.last_modified else 0.0
                yield BlobEntry(name[len(self.prefix) :], int(obj.size or 0), modified)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"listing {prefix!r}")

    def move(self, source: str, target: str) -> None:
        """A server-side copy, then the source's delete (S3 has no rename; objects up to
        5 GiB, S3's limit on one copy)."""
        try:
            self._client.copy_object(
                self.bucket, self._name(target), CopySource(self.bucket, self._name(source))
            )
            self._client.remove_object(self.bucket, self._name(source))
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            self._fail(exc, f"moving {source} to {target}")

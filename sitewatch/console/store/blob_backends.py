"""Opens the blob store the settings name: the filesystem backend of :mod:`.blobs`, or the
S3 one of :mod:`.blobs_s3` (imported only then: the ``minio`` client is the optional extra
``[s3]``). Its own module so that neither backend imports the other.

:func:`evidence_blobs` and :func:`evidence_store` are what the console uses: every part of it
that reads or writes evidence (ingest, the HTTP intake, retention, the file routes) gets its
store from them, so all see the same backend; one S3 client per process and settings."""

from __future__ import annotations

from functools import lru_cache

from sitewatch.console.settings import Settings
from sitewatch.console.store.blobs import BlobError, BlobSettings, BlobStore, FileBlobStore
from sitewatch.console.store.evidence import EvidenceStore, Quota


def open_blob_store(settings: BlobSettings) -> BlobStore:
    """The backend ``settings`` names (the S3 one checks its bucket before it is returned)."""
    if settings.backend == "fs":
        return FileBlobStore(settings.root)
    if settings.backend == "s3":
        try:
            from sitewatch.console.store.blobs_s3 import S3BlobStore
        except ImportError as exc:
            raise BlobError(
                f"the S3 evidence backend needs the minio client ({exc}): install "
                "sitewatch[s3], or set the backend to 'fs'"
            ) from None
        store = S3BlobStore(settings)
        store.check()
        return store
    raise BlobError(f"expected blob backend 'fs' or 's3', got {settings.backend!r}")


def blob_settings(settings: Settings) -> BlobSettings:
    """The console's evidence backend settings (``SITEWATCH_EVIDENCE_BACKEND``, ``_S3_*``)."""
    return BlobSettings(
        backend=settings.evidence_backend,
        root=settings.evidence_dir,
        endpoint=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        prefix=settings.s3_prefix,
        part_bytes=settings.s3_part_bytes,
        ca_file=settings.s3_ca_file,
        timeout_s=settings.s3_timeout_s,
    )


@lru_cache(maxsize=8)
def _opened(settings: BlobSettings) -> BlobStore:
    return open_blob_store(settings)


def evidence_blobs(settings: Settings) -> BlobStore | None:
    """The S3 store evidence lives in (opened and checked once per process and settings), or
    None for the filesystem backend: callers then keep their path-based code unchanged."""
    if settings.evidence_backend == "fs":
        return None
    return _opened(blob_settings(settings))


def evidence_store(settings: Settings, quota: Quota | None = None) -> EvidenceStore:
    """The evidence store on the backend ``settings`` names (files under ``evidence_dir`` for
    ``fs``, exactly as before)."""
    return EvidenceStore(settings.evidence_dir, quota, blobs=evidence_blobs(settings))

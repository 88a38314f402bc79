"""Opens the blob store the settings name: the filesystem backend of :mod:`.blobs`, or the
S3 one of :mod:`.blobs_s3` (imported only then: the ``minio`` client is the optional extra
``[s3]``). Its own module so that neither backend imports the other."""

from __future__ import annotations

from sitewatch.console.store.blobs import BlobError, BlobSettings, BlobStore, FileBlobStore


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

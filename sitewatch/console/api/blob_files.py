"""A stored blob as an HTTP reply, for backends that have no local file to hand to
``FileResponse`` (S3): the whole blob (200) or one ``Range: bytes=a-b`` of it (206, as
``FileResponse`` answers a player seeking in a clip), streamed in chunks, never whole in
memory. A range past the end is 416 with ``Content-Range: bytes */size``; a malformed or
multi-part ``Range`` header is ignored (the whole blob, which HTTP allows)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from sitewatch.console.api.errors import refuse
from sitewatch.console.settings import Settings
from sitewatch.console.store.blobs import BlobStore

RANGE_RE: Final = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(ValueError):
    """A range that starts past the blob's end."""


def single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(offset, length)`` of a one-part ``Range`` header over ``size`` bytes (clipped at the
    end); None to send the whole blob; :class:`Unsatisfiable` past the end."""
    m = RANGE_RE.match(header or "")
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # bytes=-n: the last n
        n = int(m[2])
        if n == 0:
            raise Unsatisfiable(header)
        start = max(size - n, 0)
        return (start, size - start) if size else None
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start >= size:
        raise Unsatisfiable(header)
    if end < start:
        return None
    return start, end - start + 1


def seeks(header: str | None) -> bool:
    """Whether a ``Range`` header asks for a part that does not start at byte 0 (a player's
    seek, or the index at a clip's end), not for the whole file or its start."""
    m = RANGE_RE.match(header or "")
    if m is None:
        return False
    if not m[1]:  # bytes=-n: the last n bytes
        return bool(m[2])
    return int(m[1]) > 0


def blob_response(
    request: Request,
    blobs: BlobStore,
    key: str,
    size: int,
    *,
    media_type: str,
    headers: dict[str, str],
    filename: str | None = None,
    disposition: str = "inline",
) -> Response:
    """The reply for ``key`` (``size`` bytes, checked by the caller) with ``headers``."""
    out = {**headers, "Accept-Ranges": "bytes"}
    if filename is not None:
        quoted = quote(filename)
        out["Content-Disposition"] = (
            f'{disposition}; filename="{filename}"'
            if quoted == filename
            else f"{disposition}; filename*=utf-8''{quoted}"
        )
    try:
        part = single_range(request.headers.get("range"), size)
    except Unsatisfiable:
        return Response(status_code=416, headers={**out, "Content-Range": f"bytes */{size}"})
    if part is None:
        out["Content-Length"] = str(size)
        body = blobs.chunks(key) if size else iter([b""])
        return StreamingResponse(body, media_type=media_type, headers=out)
    offset, length = part
    out["Content-Length"] = str(length)
    out["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{size}"
    return StreamingResponse(
        blobs.chunks(key, offset, length), status_code=206, media_type=media_type, headers=out
    )


def refuse_off_filesystem(settings: Settings, feature: str) -> None:
    """501 ``evidence.backend_unsupported`` when evidence is not on the filesystem: for the
    features that read evidence as local files (the export package, the evidence report,
    training data), so they never make a package or report with the files left out."""
    if settings.evidence_backend != "fs":
        raise refuse(
            501,
            "evidence.backend_unsupported",
            f"{feature} reads evidence as local files, and this console keeps evidence in S3 "
            f"(SITEWATCH_EVIDENCE_BACKEND={settings.evidence_backend}): not supported yet; view "
            "or download the files one by one, or run a console with the fs backend",
            feature=feature,
        )

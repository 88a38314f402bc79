"""Signed POSTs of one video session's parts to the console (docs/design/live-video.md, Uploads).

An :class:`Uploader` keeps one HTTP(S) connection to the host of the command's ``upload_url``
(stdlib ``http.client``, keep-alive) and sends each part with the headers the design names,
signed by the edge's key over :func:`sitewatch.contract.signing.video_upload_text`. Every socket
operation has ``timeout_s``; a part without an answer comes back as status None (the caller
decides: live drops it, a range retries). A keep-alive connection the console closed while idle
is reopened and the part sent once more, since it never reached the console.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, get_args
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract.signing import VideoPart, sign_bytes, video_upload_text

ErrorCode = Literal["camera_offline", "not_recorded", "busy", "failed"]
"""What an ``error`` part says went wrong (the design's error codes)."""
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)
RANGE_RETRIES = 3
"""A range part not answered (or answered 5xx) is sent again this many times, with backoff."""
DETAIL_CHARS = 1000
"""Longest ``detail`` an error part carries."""
CHUNK = 1 << 20


@dataclass(frozen=True)
class Answer:
    """The console's answer to one part: ``status`` None when none came (``reason`` says why)."""

    status: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def final(self) -> bool:
        """The session is over for the console (410) or a retry cannot help (401, 403)."""
        return self.status in (401, 403, 410)


class Uploader:
    """POSTs the parts of session ``request_id`` to ``upload_url``; one part at a time."""

    def __init__(
        self,
        upload_url: str,
        site_id: str,
        request_id: str,
        key: Ed25519PrivateKey,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        url = urlsplit(upload_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"expected an http(s):// upload URL with a host, got {upload_url!r}")
        self.url, self.site_id, self.request_id = upload_url, site_id, request_id
        self.key, self.timeout_s, self.clock = key, timeout_s, clock
        self._scheme, self._host, self._port = url.scheme, url.hostname, url.port
        self._target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def post(
        self,
        part: VideoPart,
        seq: int,
        at: float,
        body: bytes | Path,
        end: float | None = None,
    ) -> Answer:
        """Send one part (``body`` in memory, or a file streamed from disk) and its answer."""
        digest, size = _digest(body)
        sent = self.clock()
        # signed without holding a file in memory: by the body's SHA-256
        text = video_upload_text(
            self.site_id, self.request_id, part, seq, at, end, sent, None, digest
        )
        headers = {
            "Content-Type": "application/json" if part == "error" else "video/mp4",
            "Content-Length": str(size),
            "X-SiteWatch-Site": self.site_id,
            "X-SiteWatch-Part": part,
            "X-SiteWatch-Seq": str(seq),
            "X-SiteWatch-Time": repr(float(at)),
            "X-SiteWatch-Sent": repr(float(sent)),
            "X-SiteWatch-Signature": sign_bytes(text, self.key),
        }
        if end is not None:
            headers["X-SiteWatch-End"] = repr(float(end))
        reused = self._conn is not None
        answer = self._send(headers, body)
        if answer.status is None and reused and answer.reason.startswith("closed"):
            answer = self._send(headers, body)  # the idle connection was closed: send it again
        return answer

    def post_range(
        self, path: Path, start: float, end: float, *, retries: int = RANGE_RETRIES,
        backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
    ) -> Answer:  # fmt: skip
        """A recorded range (``start``/``end``: wall clock of its first and last frame) as one
        ``range`` part, sent again up to ``retries`` times while no answer or a 5xx comes, after
        ``backoff_s``, doubling; the last answer."""
        for attempt in range(retries + 1):
            answer = self.post("range", 0, start, path, end=end)
            if answer.status is not None and answer.status < 500:
                break  # taken, or refused in a way a retry cannot mend (401, 403, 410, 413)
            if attempt < retries:
                sleep(backoff_s * 2.0**attempt)
        return answer

    def post_error(self, code: ErrorCode, detail: str, at: float | None = None) -> Answer:
        """An ``error`` part: ``{"code": ..., "detail": ...}``, timed when it failed."""
        if code not in ERROR_CODES:
            raise ValueError(f"expected an error code of {ERROR_CODES}, got {code!r}")
        body = json.dumps({"code": code, "detail": detail[:DETAIL_CHARS]}).encode()
        return self.post("error", 0, self.clock() if at is None else at, body)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _send(self, headers: dict[str, str], body: bytes | Path) -> Answer:
        try:
            conn = self._connection()
            conn.putrequest("POST", self._target, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            with _opened(body) as f:
                while chunk := f.read(CHUNK):
                    conn.send(chunk)
            response = conn.getresponse()
            response.read()  # drain: the connection is reused
            if response.will_close:
                self.close()
            return Answer(response.status, response.reason)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            return Answer(None, f"closed by the console: {exc}")
        except (OSError, http.client.HTTPException) as exc:  # refused, timeout, TLS, garbage
            self.close()
            return Answer(None, f"no answer from {self._host}: {exc or type(exc).__name__}")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            assert self._host is not None
            if self._scheme == "https":
                context = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout_s, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout_s
                )
        return self._conn


def _digest(body: bytes | Path) -> tuple[str, int]:
    """Lowercase hex SHA-256 and size of ``body``."""
    if isinstance(body, bytes):
        return hashlib.sha256(body).hexdigest(), len(body)
    h = hashlib.sha256()
    with body.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest(), body.stat().st_size


@contextmanager
def _opened(body: bytes | Path) -> Iterator[BinaryIO]:
    if isinstance(body, bytes):
        yield io.BytesIO(body)
    else:
        with body.open("rb") as f:
            yield f

"""Evidence files from the outbox to the console over HTTP(S), off the broker
(docs/design/evidence-upload.md).

An :class:`EvidenceSender` thread takes the outbox's evidence rows in id order and uploads
each file to ``{console}/api/edge/evidence/{site}/{alert_id}/{name}``: ``GET`` asks how many
bytes the console holds, ``PUT`` sends the rest in chunks (at most the console's
``chunk_max_bytes``), each request signed by the edge's key over
:func:`sitewatch.contract.signing.evidence_upload_text`. A row leaves the outbox only when the
console answered the file complete; a broken upload resumes from the console's offset; no
answer or a 5xx is retried with a capped backoff. 400, 413 and 422 drop the file (counted in
``Outbox.dropped``); 401 and 403 are logged and retried (the edge's key, site or clock is
wrong). The console's address: ``outbox.evidence_url``, else a signed video command's
``upload_url`` (:meth:`EvidenceSender.learn`); until one is known the broker carries evidence.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract.signing import EvidencePart, evidence_upload_text, sign_bytes
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.publish.outbox import EvidenceGone, Outbox, Row

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Largest chunk sent (the console's ``chunk_max_bytes`` may make it smaller)."""
ROWS_PER_ROUND = 8
VIDEO_PATH = "/api/edge/video/"
"""What a video command's ``upload_url`` has after the console's address."""
FINAL = (400, 413, 422)
"""Answers a retry cannot mend: the file is dropped (counted)."""
Sent = Literal["done", "dropped", "retry"]


@dataclass(frozen=True)
class Answer:
    """The console's answer: ``status`` None when none came; ``held`` its JSON body."""

    status: int | None
    reason: str
    held: dict[str, Any]

    @property
    def received(self) -> int:
        return int(self.held.get("received", 0))

    @property
    def complete(self) -> bool:
        return self.status == 200 and bool(self.held.get("complete"))


def console_base(url: str) -> str:
    """The console's address in ``url`` (a base, or a video ``upload_url``); ValueError if it
    is not http(s) with a host."""
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError(f"expected an http(s):// console address with a host, got {url!r}")
    path = split.path.split(VIDEO_PATH, 1)[0].rstrip("/")
    return f"{split.scheme}://{split.netloc}{path}"


class EvidenceClient:
    """Signed evidence requests to one console over one keep-alive connection (stdlib
    ``http.client``); every socket operation has ``timeout_s``."""

    def __init__(
        self,
        base_url: str,
        site_id: str,
        key: Ed25519PrivateKey,
        timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = console_base(base_url)
        self.site_id, self.key, self.timeout_s, self.clock = site_id, key, timeout_s, clock
        split = urlsplit(self.base)
        self._scheme, self._host, self._port = split.scheme, split.hostname or "", split.port
        self._path = split.path
        self._conn: http.client.HTTPConnection | None = None

    def status(self, alert_id: str, name: str, size: int, sha256: str) -> Answer:
        """How many bytes of the file the console holds."""
        return self._request("status", alert_id, name, size, sha256, 0, b"")

    def put(
        self, alert_id: str, name: str, size: int, sha256: str, offset: int, chunk: bytes
    ) -> Answer:
        """``chunk`` at ``offset`` of the file (``size`` bytes with ``sha256``)."""
        return self._request("chunk", alert_id, name, size, sha256, offset, chunk)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _request(
        self, part: EvidencePart, alert_id: str, name: str, size: int, sha256: str,
        offset: int, body: bytes,
    ) -> Answer:  # fmt: skip
        sent = self.clock()
        chunk_sha = hashlib.sha256(body).hexdigest() if part == "chunk" else ""
        text = evidence_upload_text(
            self.site_id, alert_id, name, part, offset, size, sha256, sent, chunk_sha
        )
        headers = {
            "X-SiteWatch-Size": str(size),
            "X-SiteWatch-Sha256": sha256,
            "X-SiteWatch-Sent": repr(float(sent)),
            "X-SiteWatch-Signature": sign_bytes(text, self.key),
        }
        if part == "chunk":
            headers |= {
                "X-SiteWatch-Offset": str(offset),
                "Content-Type": "application/octet-stream",
            }
        target = f"{self._path}/api/edge/evidence/{quote(self.site_id)}/{alert_id}/{quote(name)}"
        method = "PUT" if part == "chunk" else "GET"
        answer = self._send(method, target, headers, body)
        if answer.status is None and answer.reason.startswith("closed"):
            answer = self._send(method, target, headers, body)  # an idle keep-alive closed
        return answer

    def _send(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            conn = self._connection()
            conn.request(method, target, body=body if method == "PUT" else None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            return Answer(None, f"closed by the console: {exc}", {})
        except (OSError, http.client.HTTPException) as exc:  # refused, timeout, TLS, garbage
            self.close()
            return Answer(None, f"no answer from {self._host}: {exc or type(exc).__name__}", {})
        try:
            held = json.loads(data) if data else {}
        except ValueError:
            held = {}
        held = held if isinstance(held, dict) else {}
        return Answer(response.status, str(held.get("detail") or response.reason), held)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )  # fmt: skip
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout_s
                )
        return self._conn


class EvidenceSender:
    """The outbox's evidence lane over HTTP (see the module); ``sent`` counts files the
    console took, ``bytes_sent`` their chunks' bytes, ``refused`` the answers that kept or
    dropped one, by status."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        site_id: str,
        prefix: str,
        key: Ed25519PrivateKey,
        console_url: str | None = None,
        timeout_s: float = 30.0,
        chunk_bytes: int = CHUNK_BYTES,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if chunk_bytes < 1024:
            raise ValueError(f"expected chunks of at least 1024 bytes, got {chunk_bytes}")
        self.outbox, self.site_id, self.key = outbox, site_id, key
        self.head = f"{prefix}/{site_id}/evidence/"
        self.timeout_s, self.chunk_bytes, self.clock = timeout_s, chunk_bytes, clock
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self.sent = 0
        self.bytes_sent = 0  # chunk bytes the console took (a resumed file: only the rest)
        self.refused: Counter[str] = Counter()
        self._client: EvidenceClient | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evidence-upload", daemon=True)
        self._warned: set[str] = set()  # problems logged since the last file went
        self._fixed = console_url is not None  # configured: video commands do not move it
        if console_url is not None:
            self.learn(console_url)

    def learn(self, url: str) -> None:
        """Upload to the console at ``url`` (its address, or a signed video command's
        ``upload_url``) from now on; ValueError if it is not an http(s) URL."""
        base = console_base(url)
        with self._lock:
            if self._client is not None and self._client.base == base:
                return
            old, self._client = (
                self._client,
                EvidenceClient(base, self.site_id, self.key, self.timeout_s, self.clock),
            )
        if old is not None:
            old.close()
        log.info("evidence goes to the console at %s over HTTP", base)
        self.wake()

    def heard(self, upload_url: str) -> None:
        """A signed video command's ``upload_url``: the console's address, unless the config
        names one (on paho's thread: no I/O; a URL that is not http(s) is logged)."""
        if self._fixed:
            return
        try:
            self.learn(upload_url)
        except ValueError as exc:
            log.warning("evidence keeps its way: %s", exc)

    def ready(self) -> bool:
        """Whether the console's address is known (until then the broker carries evidence)."""
        return self._client is not None

    def start(self) -> EvidenceSender:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        delay = self.retry_min_s
        while not self._stop.is_set():
            try:
                went = self._round()
            except Exception:  # the outbox's database, a bug: keep the lane alive
                log.exception("evidence upload failed; retrying")
                went = "wait"
            if went == "busy":
                delay = self.retry_min_s
                continue
            self._wake.wait(delay if went == "wait" else 0.5)
            self._wake.clear()
            delay = min(delay * 2, self.retry_max_s) if went == "wait" else self.retry_min_s

    def _round(self) -> Literal["busy", "idle", "wait"]:
        """Send the oldest evidence rows: ``idle`` when there were none (or no console is
        known yet), ``wait`` when one must wait for a retry."""
        client = self._client
        rows = [] if client is None else self.outbox.pending(ROWS_PER_ROUND, files=True)
        for row in rows:
            assert client is not None
            if self._stop.is_set() or self.send(client, row) == "retry":
                return "wait"
        return "busy" if rows else "idle"

    def send(self, client: EvidenceClient, row: Row) -> Sent:
        """Upload one row's file, resuming at what the console holds; the row is removed
        when the console has it whole, dropped when it refuses it for good."""
        if not row.topic.startswith(self.head) or row.topic.count("/") != self.head.count("/") + 1:
            self.outbox.drop(row, "evidence topic unreadable", f"not {self.head}<alert>/<name>")
            return "dropped"
        alert_id, name = row.topic[len(self.head) :].split("/")
        where = f"evidence {name} of alert {alert_id}"
        try:
            row.check_file()
        except EvidenceGone as gone:
            self.outbox.drop(row, gone.reason, str(gone))
            return "dropped"
        assert row.file is not None
        answer = client.status(alert_id, name, row.size_bytes, row.sha256)
        try:
            with row.file.open("rb") as f:
                for _ in range(row.size_bytes // 1024 + 4):  # bounded: each turn progresses
                    if answer.complete:
                        self.outbox.remove([row.id])
                        self.sent += 1
                        self._warned.clear()
                        return "done"
                    if answer.status not in (200, 409):
                        return self._refused(row, where, answer)
                    offset = answer.received
                    chunk = _chunk(f, offset, _limit(answer, self.chunk_bytes))
                    answer = client.put(alert_id, name, row.size_bytes, row.sha256, offset, chunk)
                    self.bytes_sent += len(chunk) if answer.status == 200 else 0
        except OSError as exc:  # deleted since it was checked: the next turn drops it
            return self._refused(row, where, Answer(None, f"unreadable: {exc}", {}))
        return self._refused(row, where, Answer(None, "no progress", {}))

    def _refused(self, row: Row, where: str, answer: Answer) -> Sent:
        status = "no answer" if answer.status is None else str(answer.status)
        self.refused[status] += 1
        if answer.status in FINAL:
            self.outbox.drop(row, f"evidence refused by the console ({status})", answer.reason)
            return "dropped"
        if status not in self._warned:  # once per kind of problem until a file goes
            self._warned.add(status)
            level = logging.ERROR if answer.status in (401, 403) else logging.WARNING
            log.log(
                level,
                "%s: the console answered %s (%s); kept in the outbox and retried%s",
                where, status, answer.reason,
                ": fix the edge's key, site id or clock" if level == logging.ERROR else "",
            )  # fmt: skip
        return "retry"


def _limit(answer: Answer, chunk_bytes: int) -> int:
    """The chunk to send: ``chunk_bytes``, or less where the console takes less."""
    got = answer.held.get("chunk_max_bytes")
    return min(chunk_bytes, got) if isinstance(got, int) and got >= 1024 else chunk_bytes


def _chunk(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def evidence_lane(
    config: SiteConfig, outbox: Outbox, key: Ed25519PrivateKey
) -> EvidenceSender | None:
    """The worker's evidence lane for :class:`~sitewatch.edge.publish.outbox.Publisher`:
    None while ``outbox.evidence_over_http`` is off (evidence goes on the broker)."""
    o = config.outbox
    if not o.evidence_over_http:
        return None
    return EvidenceSender(
        outbox,
        site_id=config.site.id,
        prefix=config.mqtt.topic_prefix,
        key=key,
        console_url=o.evidence_url,
        timeout_s=max(config.video.upload_timeout_s, 30.0),
    )

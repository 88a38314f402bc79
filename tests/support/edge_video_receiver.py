"""A real HTTP receiver of edge video uploads for tests: stdlib ``http.server`` in a thread.

It checks every upload as the console must (docs/design/live-video.md, Uploads): all headers
there, the site the expected one, the Ed25519 signature of the edge's public key over
``video_upload_text``. Each upload is kept (:class:`Upload`), and answered by ``answer`` (204 by
default; a test makes it 410 or 500). Uploads that fail a check are kept in ``problems`` and
answered 403, so a test can assert there are none.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sitewatch.contract.signing import verify_bytes, video_upload_text

HEADERS = ("Site", "Part", "Seq", "Time", "Sent", "Signature")


@dataclass(frozen=True)
class Upload:
    request_id: str
    part: str
    seq: int
    time: float
    end: float | None
    sent: float
    body: bytes
    received_at: float  # the receiver's clock when the body was in


class VideoReceiver:
    """Listens on 127.0.0.1; ``url(request_id)`` is an upload_url for a command."""

    def __init__(self, site_id: str, edge_key: Ed25519PublicKey) -> None:
        self.site_id, self.edge_key = site_id, edge_key
        self.uploads: list[Upload] = []
        self.problems: list[str] = []
        self.answer: Callable[[Upload], int] = lambda upload: 204
        self.connections = 0
        self.idle_timeout_s: float | None = None
        """Close a connection idle this long (None: keep it until the client closes it)."""
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, request_id: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/edge/video/{request_id}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(
        self, check: Callable[[list[Upload]], bool], timeout_s: float, what: str
    ) -> list[Upload]:
        """The uploads once ``check`` holds for them; the test fails saying what came."""
        with self._changed:
            if not self._changed.wait_for(lambda: check(self.uploads), timeout_s):
                got = [(u.part, u.seq, len(u.body)) for u in self.uploads]
                pytest.fail(f"expected {what} in {timeout_s:g} s, got {got}; {self.problems}")
            return list(self.uploads)

    def of(self, request_id: str) -> list[Upload]:
        with self._changed:
            return [u for u in self.uploads if u.request_id == request_id]

    def _keep(self, upload: Upload | None, problem: str | None) -> None:
        with self._changed:
            if upload is not None:
                self.uploads.append(upload)
            if problem is not None:
                self.problems.append(problem)
            self._changed.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the edge uses it

            def setup(self) -> None:
                super().setup()
                if receiver.idle_timeout_s is not None:
                    self.connection.settimeout(receiver.idle_timeout_s)
                with receiver._changed:
                    receiver.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                upload, problem = receiver._check(self.path, self.headers, body)
                status = 403 if upload is None else receiver.answer(upload)
                receiver._keep(upload, problem)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def _check(self, path: str, headers: object, body: bytes) -> tuple[Upload | None, str | None]:
        get = headers.get  # type: ignore[attr-defined]
        missing = [h for h in HEADERS if get(f"X-SiteWatch-{h}") is None]
        if missing:
            return None, f"{path}: headers {missing} missing"
        request_id = path.rsplit("/", 1)[-1]
        part, seq = get("X-SiteWatch-Part"), int(get("X-SiteWatch-Seq"))
        at, sent = float(get("X-SiteWatch-Time")), float(get("X-SiteWatch-Sent"))
        end = get("X-SiteWatch-End")
        end_f = None if end is None else float(end)
        if (part == "range") != (end is not None):
            return None, f"{path}: X-SiteWatch-End on a {part} part: {end!r}"
        if get("X-SiteWatch-Site") != self.site_id:
            return None, f"{path}: site {get('X-SiteWatch-Site')!r}"
        text = video_upload_text(self.site_id, request_id, part, seq, at, end_f, sent, body)
        if not verify_bytes(text, get("X-SiteWatch-Signature"), self.edge_key):
            return None, f"{path}: bad signature on {part} {seq}"
        return Upload(request_id, part, seq, at, end_f, sent, body, time.time()), None


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[str, Ed25519PublicKey], VideoReceiver]]:
    made: list[VideoReceiver] = []

    def make(site_id: str, edge_key: Ed25519PublicKey) -> VideoReceiver:
        receiver = VideoReceiver(site_id, edge_key)
        receiver.start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def decoded_frames(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every frame PyAV decodes from an MP4 in memory."""
    with av.open(io.BytesIO(data), "r") as container:
        return [(f.width, f.height) for f in container.decode(video=0)]

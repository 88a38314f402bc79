"""Evidence over HTTP for the simulated edges of bench/console_load.py: each file uploaded with
the edge's own client (sitewatch/edge/publish/evidence_upload.py: signed, resumable, chunks of
at most the console's ``chunk_max_bytes``) by a pool of threads, as the edge's evidence lane
does when ``outbox.evidence_over_http`` is on; the alert messages that list the files stay on
MQTT. A file is retried (resuming at what the console holds) every second until it is whole
or :data:`GIVE_UP_S` has passed, so a replica killed mid-upload costs a retry, not the file.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract import messages as m
from sitewatch.edge.publish.evidence_upload import EvidenceClient

GIVE_UP_S = 300.0
RETRY_S = 1.0
THREADS = 8


class Uploader:
    """Uploads files to the console at ``base_url``; ``pending`` counts those not yet whole,
    ``failed`` those given up, ``retries`` the answers that were not a 200."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="evidence-http")
        self.pending = 0
        self.failed = 0
        self.retries = 0
        self.last_problem: str | None = None
        self._lock = threading.Lock()

    def submit(
        self, site: str, key: Ed25519PrivateKey, alert_id: str, f: m.EvidenceFile, data: bytes
    ) -> None:
        with self._lock:
            self.pending += 1
        self.pool.submit(self._upload, site, key, alert_id, f, data)

    def _upload(
        self, site: str, key: Ed25519PrivateKey, alert_id: str, f: m.EvidenceFile, data: bytes
    ) -> None:
        client = EvidenceClient(self.base_url, site, key)
        deadline = time.monotonic() + GIVE_UP_S
        try:
            while time.monotonic() < deadline:
                answer = client.status(alert_id, f.name, f.size_bytes, f.sha256)
                while answer.status == 200 and not answer.complete:
                    offset = answer.received
                    step = int(answer.held.get("chunk_max_bytes") or 1 << 20)
                    chunk = data[offset : offset + step]
                    answer = client.put(alert_id, f.name, f.size_bytes, f.sha256, offset, chunk)
                if answer.complete:
                    return
                with self._lock:
                    self.retries += 1
                    self.last_problem = f"{answer.status} {answer.reason}"
                time.sleep(RETRY_S)
            with self._lock:
                self.failed += 1
        finally:
            client.close()
            with self._lock:
                self.pending -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

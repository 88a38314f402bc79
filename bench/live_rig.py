"""Parts of the live-view benches: the console as its own process, viewers over HTTP, and the
CPU an edge spends on its live streams (bench/live_view.py, bench/edge_throughput.py --watch).

CPU is read from /proc: a process's utime+stime, a thread's from /proc/self/task/<tid>/stat
(seconds). The edge's live cost is its ffmpeg remux children (``-movflags empty_moov...`` on
the command line) and its ``live-read-*``/``live-send-*`` threads (found by name; Python 3.11
does not name OS threads, so by ``Thread.native_id``). Sizes in kB are 1000 bytes.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from sitewatch.edge.video.boxes import BoxError, FragmentSplitter

TICK = os.sysconf("SC_CLK_TCK")
SITEWATCH = Path(sys.executable).with_name("sitewatch")
USER, PASSWORD = "bench.viewer", "bench-live-view-password"
LIVE_THREADS = ("live-read-", "live-send-")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stat_seconds(path: str) -> float | None:
    """utime+stime (s) from a /proc ``stat`` file; None when the process or thread is gone."""
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def live_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's live streams: ``ffmpeg:<pid>`` for each remux
    child, ``thread:<tid>`` for each live thread. Diff two readings with :func:`cpu_spent`."""
    out: dict[str, float] = {}
    me = os.getpid()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        pid = stat.split("/")[2]
        try:
            ppid = int(Path(stat).read_text().rsplit(")", 1)[1].split()[1])
            if ppid != me or b"empty_moov" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds = stat_seconds(stat)
        if seconds is not None:
            out[f"ffmpeg:{pid}"] = seconds
    for thread in threading.enumerate():
        if thread.name.startswith(LIVE_THREADS) and thread.native_id is not None:
            seconds = stat_seconds(f"/proc/self/task/{thread.native_id}/stat")
            if seconds is not None:
                out[f"thread:{thread.native_id}"] = seconds
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """(ffmpeg, threads) CPU seconds between two :func:`live_cpu` readings; one started in
    between counts from zero, one that ended in between is lost (its last part)."""
    spent = {"ffmpeg": 0.0, "thread": 0.0}
    for key, seconds in after.items():
        spent[key.split(":")[0]] += seconds - before.get(key, 0.0)
    return spent["ffmpeg"], spent["thread"]


class ConsoleProcess:
    """``sitewatch server run`` in its own process: SQLite and files in ``folder``, ingest from
    the broker on ``mqtt_port``, one manager :data:`USER` of ``site``, the edge's key
    ``edge_key`` (base64 public key) registered with ``server add-edge``."""

    def __init__(self, folder: Path, mqtt_port: int, site: str, edge_key: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "console.log"
        self.env = {
            **os.environ,
            "SITEWATCH_DATABASE_URL": f"sqlite:///{folder / 'console.db'}",
            "SITEWATCH_EVIDENCE_DIR": str(folder / "evidence"),
            "SITEWATCH_VIDEO_DIR": str(folder / "video"),
            "SITEWATCH_EDGE_URL": self.url,
            "SITEWATCH_MQTT_HOST": "127.0.0.1",
            "SITEWATCH_MQTT_PORT": str(mqtt_port),
            "SITEWATCH_SIGNING_KEY_FILE": str(folder / "console.key"),
            "SITEWATCH_BROKER_PASSWORD_FILE": str(folder / "broker" / "passwd"),
            "SITEWATCH_BROKER_ACL_FILE": str(folder / "broker" / "acl"),
            "BENCH_LIVE_VIEW_PASSWORD": PASSWORD,
        }
        self._run("create-user", "--username", USER, "--role", "manager", "--sites", site,
                  "--password-env", "BENCH_LIVE_VIEW_PASSWORD", "--language", "en")  # fmt: skip
        self._run("add-edge", site, "--public-key", edge_key, "--out", str(folder / "edge-files"))
        self.public_key = self._run("public-key").strip().splitlines()[-1]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(SITEWATCH), "server", "run", "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise SystemExit(f"bench: the console did not start:\n{self.tail()}") from None
                time.sleep(0.2)

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [str(SITEWATCH), "server", *args], env=self.env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"bench: 'sitewatch server {args[0]}' failed: {done.stderr.strip()}")
        return done.stdout

    def login(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(10.0, read=30.0))
        r = client.post("/api/auth/login", json={"username": USER, "password": PASSWORD})
        if r.status_code != 200:
            raise SystemExit(f"bench: login to the console: {r.status_code} {r.text[:200]}")
        client.headers["X-CSRF-Token"] = "bench"
        return client

    def cpu_seconds(self) -> float:
        return stat_seconds(f"/proc/{self.proc.pid}/stat") or 0.0

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Viewer(threading.Thread):
    """One person watching ``path`` (the console's live stream) with its own login: bytes
    counted, the arrival time (Unix s) of every media part after the first kept."""

    def __init__(self, console: ConsoleProcess, path: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.client, self.path = console.login(), path
        self.bytes = 0
        self.arrivals: list[float] = []
        self.status: int | None = None
        self.error: str | None = None
        self.joined = threading.Event()  # the init part and the first fragment came
        self._leave = threading.Event()

    def run(self) -> None:
        splitter, media = FragmentSplitter(), 0
        try:
            with self.client.stream("GET", self.path) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    self.error = f"{r.status_code} {r.read()[:300]!r}"
                    return
                for chunk in r.iter_bytes():
                    now = time.time()
                    self.bytes += len(chunk)
                    for part in splitter.feed(chunk, now):
                        if part.kind != "media":
                            continue
                        media += 1
                        if media == 1:
                            self.joined.set()  # the newest fragment, queued at join: old
                        else:
                            self.arrivals.append(now)
                    if self._leave.is_set():
                        return
            self.error = "the console ended the stream"
        except (httpx.HTTPError, BoxError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.joined.set()
            self.client.close()

    def stop(self) -> None:
        """Leave at the next chunk (a fragment comes every GOP)."""
        self._leave.set()

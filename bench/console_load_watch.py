"""What bench/console_load.py watches while edges publish: the browser's live feed (SSE), the
database (what is stored, when), and every component's CPU and memory from /proc; and the
pure arithmetic of its report (percentiles, lost and duplicated), tested in
tests/unit/test_console_load.py.

Times are Unix seconds of this machine's clock (every part runs on it). CPU is utime+stime
of a component's processes (children included, e.g. PostgreSQL's backends); memory is the sum
of their RSS, its peak over 1 s samples.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, text

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
POLL_S = 0.25
OVERLAP_ROWS = 2000
"""How far back each poll re-reads by row id: with several replicas, rows may commit out of id
order, so a window this wide (re-read, de-duplicated) catches a late commit of a lower id."""


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, nearest rank) of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least the first
    return ordered[int(rank) - 1]


def delays(start: dict[tuple[str, int], float], end: dict[tuple[str, int], float]) -> list[float]:
    """Seconds from ``start`` to ``end`` for every key in both."""
    return [end[k] - start[k] for k in start if k in end]


def lost_and_duplicated(
    published: Iterable[tuple[str, int]], stored: Iterable[tuple[str, int]]
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(published messages never stored, messages stored more than once): ``stored`` lists a
    row per stored timeline row, so a key in it twice is a duplicate."""
    seen: dict[tuple[str, int], int] = {}
    for key in stored:
        seen[key] = seen.get(key, 0) + 1
    lost = sorted(k for k in set(published) if k not in seen)
    return lost, sorted(k for k, n in seen.items() if n > 1)


# -- the database --------------------------------------------------------------------------


class StoredWatch(threading.Thread):
    """Polls ``alert_events`` every :data:`POLL_S`: when each ``(alert_id, seq)`` first became
    visible (``seen``), as a reader of the database would find it."""

    def __init__(self, url: str) -> None:
        super().__init__(name="stored-watch", daemon=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self.seen: dict[tuple[str, int], float] = {}
        self.errors = 0
        self._last_id = 0
        self._halt = threading.Event()

    def poll(self) -> None:
        low = max(0, self._last_id - OVERLAP_ROWS)
        query = text("SELECT id, alert_id, seq FROM alert_events WHERE id > :low")
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"low": low}).all()
        now = time.time()
        for row_id, alert_id, seq in rows:
            self.seen.setdefault((str(alert_id), int(seq)), now)
            self._last_id = max(self._last_id, int(row_id))

    def run(self) -> None:
        while not self._halt.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # a database restarting or locked: read again next time
                self.errors += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def final(self) -> dict[str, object]:
        """Every stored timeline row and evidence file, read once at the end."""
        with self.engine.connect() as conn:
            rows = [
                (str(a), int(s))
                for a, s in conn.execute(text("SELECT alert_id, seq FROM alert_events"))
            ]
            alerts = int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())
            files: dict[str, int] = dict(
                conn.execute(text("SELECT status, count(*) FROM evidence GROUP BY status")).all()
            )
            doubled = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM (SELECT alert_id, name FROM evidence "
                        "GROUP BY alert_id, name HAVING count(*) > 1) AS d"
                    )
                ).scalar_one()
            )
        self.engine.dispose()
        return {"rows": rows, "alerts": alerts, "evidence": files, "evidence_doubled": doubled}


# -- the browser ---------------------------------------------------------------------------


class LiveFeed(threading.Thread):
    """A browser's live feed: ``GET /api/events`` streamed with a logged-in client, each
    ``alert`` event's ``(id, seq)`` timed on its first arrival; ``repeats`` counts an event
    whose body is the one its ``(id, seq)`` last came with (an alert sent again because a file
    of it arrived differs in ``evidence_files``: a repeat tells the browser nothing new);
    reconnects (as EventSource does, after its ``retry``) when the stream breaks, e.g. when the
    replica behind the proxy dies."""

    def __init__(self, client: httpx.Client) -> None:
        super().__init__(name="live-feed", daemon=True)
        self.client = client
        self.shown: dict[tuple[str, int], float] = {}
        self.repeats = 0
        self._last: dict[tuple[str, int], str] = {}
        self.events: dict[str, int] = {}
        self.reconnects = 0
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self._stream()
            except (httpx.HTTPError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self._halt.wait(1.0):
                return
            self.reconnects += 1

    def _stream(self) -> None:
        with self.client.stream("GET", "/api/events", timeout=httpx.Timeout(10, read=30)) as r:
            if r.status_code != 200:
                self.last_error = f"HTTP {r.status_code}"
                return
            self.connected.set()
            kind = ""
            for line in r.iter_lines():
                if self._halt.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self._event(kind, line[6:])
                elif not line:
                    kind = ""

    def _event(self, kind: str, data: str) -> None:
        self.events[kind] = self.events.get(kind, 0) + 1
        if kind != "alert":
            return
        body = json.loads(data)
        key = (str(body["id"]), int(body["seq"]))
        if key not in self.shown:
            self.shown[key] = time.time()
        elif self._last.get(key) == data:
            self.repeats += 1  # the same view again
        self._last[key] = data

    def stop(self) -> None:
        self._halt.set()


# -- CPU and memory ------------------------------------------------------------------------


def proc_sample(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS KiB) of ``pid``; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE_KIB


@dataclass
class Usage:
    """Per component: CPU seconds spent while watched and the peak of its summed RSS."""

    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_rss_kib: dict[str, int] = field(default_factory=dict)


class UsageWatch(threading.Thread):
    """Samples ``components()`` (name -> pids) every second. A process's CPU counts from its
    first sample (seconds spent before the run are not the run's), and what a process spent
    after its last sample is lost when it dies (a killed replica's last second)."""

    def __init__(self, components: Callable[[], dict[str, list[int]]]) -> None:
        super().__init__(name="usage-watch", daemon=True)
        self.components = components
        self.usage = Usage()
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._halt = threading.Event()
        self.sample()

    def sample(self) -> None:
        for name, pids in self.components().items():
            rss = 0
            for pid in pids:
                got = proc_sample(pid)
                if got is None:
                    continue
                cpu, kib = got
                self._first.setdefault(pid, cpu)
                self._last[pid] = (name, cpu)
                rss += kib
            peak = self.usage.peak_rss_kib
            peak[name] = max(peak.get(name, 0), rss)

    def run(self) -> None:
        while not self._halt.wait(1.0):
            self.sample()

    def stop(self) -> Usage:
        self._halt.set()
        self.join(5)
        self.sample()
        cpu: dict[str, float] = {}
        for pid, (name, last) in self._last.items():
            cpu[name] = cpu.get(name, 0.0) + last - self._first[pid]
        self.usage.cpu_s = cpu
        return self.usage


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (the box is shared: they say how much)."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]

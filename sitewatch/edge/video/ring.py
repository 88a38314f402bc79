"""The complete segments of one recorder folder, with wall-clock times, holds and pruning.

A segment's mtime is the wall time of its end (the segment muxer closes it when the next one
begins); its start is the previous segment's mtime in the same run, else ``mtime - duration``
from the run's CSV list. A segment the lists no longer name (the list keeps the last
:data:`LIST_SPAN_S`; a restarted edge finds days of segments) is indexed from the mtimes of its
neighbours once its successor exists. Never a camera clock; why: docs/design/video.md.

Pruning deletes by age (``keep_s``) and then oldest first down to ``max_bytes``, never a
segment overlapping a pin or legal hold (:mod:`sitewatch.edge.video.holds`). New segments
come from the lists' new rows; the folder is listed again only when it changed, and for a big
ring at most :data:`RELIST_SHARE` of the time, so a refresh of a week of segments stays cheap.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sitewatch.edge.video.holds import HoldStore

log = logging.getLogger(__name__)

MAX_SEGMENT_S = 120.0
LIST_SETTLE_S = 0.25
"""A list younger than this may name a segment ffmpeg has not closed yet (its mtime is early)."""
LIST_SPAN_S = 600.0
"""Seconds of segments a run's CSV list keeps (older ones are indexed already, or by mtimes)."""
SWEEP_EVERY_S = 60.0
"""How often :meth:`SegmentRing.prune` looks for orphans (stale files no index holds)."""
RELIST_SHARE = 0.05
"""Listing a changed folder again (deletions by others, new runs) takes at most this share of
the time once a listing takes over 5 ms: a week of segments is listed every few seconds."""


@dataclass(frozen=True)
class Segment:
    """One complete segment: wall-clock ``start`` (epoch seconds), ``duration`` in seconds."""

    path: Path
    start: float
    duration: float
    size: int

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Pin:
    alert_id: str  # or a legal hold's id
    start: float
    end: float


def plan_prune(
    segments: Sequence[Segment], pins: Sequence[Pin], now: float, keep_s: float, max_bytes: int
) -> list[Segment]:
    """Segments to delete: those ended more than ``keep_s`` ago, then the oldest until the rest
    fit in ``max_bytes``; never one that overlaps a pin."""

    def pinned(seg: Segment) -> bool:
        return any(seg.start < p.end and seg.end > p.start for p in pins)

    ordered = sorted(segments, key=lambda s: s.start)
    doomed = [s for s in ordered if s.end < now - keep_s and not pinned(s)]
    gone = {s.path for s in doomed}
    total = sum(s.size for s in ordered) - sum(s.size for s in doomed)
    for seg in ordered:
        if total <= max_bytes:
            break
        if seg.path not in gone and not pinned(seg):
            doomed.append(seg)
            gone.add(seg.path)
            total -= seg.size
    return doomed


class SegmentRing:
    """The complete segments of one recorder folder, with holds and pruning (module doc)."""

    def __init__(
        self,
        directory: Path,
        keep_s: float = 60.0,
        max_bytes: int = 2 * 10**9,
        holds: HoldStore | None = None,
    ) -> None:
        self.directory, self.keep_s, self.max_bytes = directory, keep_s, max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self.holds = holds if holds is not None else HoldStore(directory)
        self._index: dict[str, Segment] = {}
        self._bad: set[str] = set()  # listed with an impossible duration; pruned as orphans
        self._closed: dict[str, float] = {}  # segment name -> mtime (when the next one began)
        self._names: set[str] = set()  # the folder's entries at its last listing
        self._dir_stamp = -1  # the folder's mtime_ns at that listing
        self._lists: dict[str, tuple[int, int]] = {}  # CSV -> (mtime_ns, last number read)
        self._listed_at, self._list_cost = float("-inf"), 0.0  # monotonic; seconds it took
        self._csvs: list[str] = []  # the CSV lists among ``_names``
        self._ordered: list[Segment] | None = None  # the index by start; None: to sort again
        self._swept_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self) -> list[Segment]:
        """Index segments newly listed or closed; forget deleted ones; all, oldest first."""
        with self._lock:
            stamp = self.directory.stat().st_mtime_ns
            # a change within the folder's timestamp tick of the last listing would be missed
            changed = stamp != self._dir_stamp or time.time_ns() - stamp < 1_000_000_000
            began = time.monotonic()
            cheap = (
                self._list_cost < 0.005
                or (began - self._listed_at) * RELIST_SHARE >= self._list_cost
            )
            relist = changed and cheap
            if relist:
                self._names = set(os.listdir(self.directory))
                self._dir_stamp, self._listed_at = stamp, began
                self._csvs = sorted(n for n in self._names if n.endswith(".csv"))
                for name in [n for n in self._index if n not in self._names]:
                    self._forget(name)
            for name in self._csvs:
                self._read_listing(name)
            if relist:
                self._adopt_unlisted()
                self._list_cost = time.monotonic() - began
            return self._sorted()

    def _sorted(self) -> list[Segment]:
        """A copy of the index ordered by start (caller holds the lock)."""
        if self._ordered is None:
            self._ordered = sorted(self._index.values(), key=lambda seg: seg.start)
        return list(self._ordered)

    def _forget(self, name: str) -> None:
        self._index.pop(name, None)
        self._closed.pop(name, None)
        self._ordered = None

    def _read_listing(self, name: str) -> None:
        listing = self.directory / name
        try:
            st = listing.stat()
        except FileNotFoundError:
            return
        settling = time.time() - st.st_mtime < LIST_SETTLE_S
        stamp, done = self._lists.get(name, (-1, -1))
        if stamp == st.st_mtime_ns and not settling:
            return
        rows = _read_list(listing)
        if settling and rows:
            rows = rows[:-1]  # ffmpeg may still be flushing the newest listed segment
        for seg_name, s, e in rows:
            number = _number(seg_name)
            if number <= done:
                continue  # read before: indexed, ignored or gone
            done = max(done, number)
            if seg_name in self._index or seg_name in self._bad:
                continue
            if seg_name not in self._names:  # written since the last listing
                if not (self.directory / seg_name).is_file():
                    continue
                self._names.add(seg_name)
            if not 0.0 < e - s <= MAX_SEGMENT_S:  # timestamps jumped (camera reset)
                log.warning("ring %s: ignoring %s, listed as %.1f s", listing, seg_name, e - s)
                self._bad.add(seg_name)
                continue
            self._add(seg_name, e - s)
        self._lists[name] = (st.st_mtime_ns if not settling else -1, done)

    def _adopt_unlisted(self) -> None:
        """Index unlisted segments whose predecessor and successor exist (closed, timed)."""
        for name in sorted(self._names - self._index.keys() - self._bad):
            if not name.endswith(".ts"):
                continue
            prev, nxt = _neighbour(name, -1), _neighbour(name, +1)
            if prev not in self._names or nxt not in self._names:
                continue
            try:
                began, ended = (self.directory / prev).stat().st_mtime, self._mtime(name)
            except FileNotFoundError:
                continue
            if 0.0 < ended - began <= MAX_SEGMENT_S:
                self._closed.setdefault(prev, began)
                self._add(name, ended - began)

    def _mtime(self, name: str) -> float:
        return (self.directory / name).stat().st_mtime

    def _add(self, name: str, duration: float) -> None:
        path = self.directory / name
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        start = self._closed.get(_neighbour(name, -1), st.st_mtime - duration)
        self._index[name] = Segment(path, start, duration, st.st_size)
        self._closed[name] = st.st_mtime
        self._ordered = None

    def segments(self) -> list[Segment]:
        with self._lock:
            return self._sorted()

    def covered_until(self) -> float | None:
        """Wall time up to which video is recorded (end of the newest complete segment)."""
        segs = self.refresh()
        return max(s.end for s in segs) if segs else None

    def size_bytes(self) -> int:
        """Bytes the indexed segments use."""
        return sum(s.size for s in self.segments())

    def bytes_per_hour(self) -> float:
        """Observed recording rate; 0 while nothing is recorded."""
        segs = self.refresh()
        seconds = sum(s.duration for s in segs)
        return sum(s.size for s in segs) / seconds * 3600.0 if seconds > 0 else 0.0

    def pin(self, alert_id: str, start: float, end: float) -> None:
        """Keep every segment overlapping [start, end] until :meth:`unpin` (the clip is cut);
        written to the holds file, so a restart keeps it."""
        self.holds.pin(alert_id, start, end)

    def unpin(self, alert_id: str) -> None:
        self.holds.unpin(alert_id)

    def is_pinned(self, seg: Segment) -> bool:
        """Whether ``seg`` overlaps an alert pin or a legal hold."""
        return self.holds.covers(seg.start, seg.end)

    def delete(self, seg: Segment) -> None:
        """Delete one segment (the disk manager's and the budget's path); refuses a held one."""
        if self.is_pinned(seg):
            raise ValueError(f"segment {seg.path.name} is pinned or on hold; not deleting")
        seg.path.unlink(missing_ok=True)
        with self._lock:
            self._forget(seg.path.name)

    def prune(self, now: float | None = None) -> list[Segment]:
        """Apply :func:`plan_prune`; also delete stale unlisted files and finished lists."""
        now = time.time() if now is None else now
        self.holds.expire(now)
        segs = self.refresh()
        held = [Pin(h.id, h.start, h.end) for h in self.holds.spans()]
        if self.holds.broken:
            return []  # the holds file is unreadable: keep everything (logged by the store)
        with self._lock:
            doomed = plan_prune(segs, held, now, self.keep_s, self.max_bytes)
            for seg in doomed:
                seg.path.unlink(missing_ok=True)
                self._forget(seg.path.name)
            known = set(self._index)
        young = [s for s in doomed if s.end >= now - self.keep_s]
        if young:
            log.warning(
                "ring %s over its %d-byte budget: deleted %d segments younger than %.0f s",
                self.directory, self.max_bytes, len(young), self.keep_s,
            )  # fmt: skip
        if time.monotonic() - self._swept_at >= SWEEP_EVERY_S:
            self._swept_at = time.monotonic()
            self._sweep(now, known)
        return doomed

    def _sweep(self, now: float, known: set[str]) -> None:
        """Delete orphans: a killed ffmpeg's unlisted last segment, an ended run's list."""
        for name in os.listdir(self.directory):
            if name in known or not name.endswith((".ts", ".csv")):
                continue
            path = self.directory / name
            try:
                stale = path.stat().st_mtime < now - self.keep_s
            except FileNotFoundError:
                continue
            if stale and not self._listed_alive(path, known):
                path.unlink(missing_ok=True)
                self._lists.pop(name, None)

    def _listed_alive(self, path: Path, known: set[str]) -> bool:
        return path.suffix == ".csv" and any(name in known for name, _, _ in _read_list(path))


def _neighbour(name: str, step: int) -> str:
    """``r1-000007.ts`` -> ``r1-000006.ts`` (step -1): a segment beside it in the same run."""
    run, _, number = name.removesuffix(".ts").rpartition("-")
    return f"{run}-{int(number) + step:06d}.ts" if number.isdigit() else ""


def _number(name: str) -> int:
    """``r1-000007.ts`` -> 7; -1 for a name not of that form."""
    number = name.removesuffix(".ts").rpartition("-")[2]
    return int(number) if number.isdigit() else -1


def _read_list(path: Path) -> list[tuple[str, float, float]]:
    """Rows ``name,start,end`` of a segment list (rewritten atomically by ffmpeg)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    rows = []
    for row in csv.reader(text.splitlines()):
        try:
            rows.append((row[0], float(row[1]), float(row[2])))
        except (IndexError, ValueError):
            log.warning("segment list %s: skipping malformed row %r", path, row)
    return rows

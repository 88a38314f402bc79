"""Which evidence files belong to which alert, and which alerts are open: an SQLite index.

The disk manager never deletes the evidence of an open alert, so the index must survive a
crash: every change is one small transaction (WAL, ``synchronous=FULL``). It used to be one
JSON file rewritten on every change, which made each alert event cost time in proportion to
all the alerts kept (bench/RESULTS.md, "Alert start and the evidence index"). An index left by
that version (``<name>.json`` beside the database) is imported once and renamed
``.json.imported``. The index knows files by their paths only: it imports nothing of
``sitewatch.edge.evidence.files``, which imports it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, open INTEGER NOT NULL, opened_at REAL NOT NULL, closed_at REAL
);
CREATE TABLE IF NOT EXISTS files (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    UNIQUE (alert_id, path)
);
"""


class FileAtPath(Protocol):
    """What the index needs of an evidence file (``files.EvidenceFileInfo`` is one)."""

    @property
    def path(self) -> Path: ...


@dataclass
class AlertFiles:
    open: bool
    opened_at: float
    closed_at: float | None = None
    files: list[str] = field(default_factory=list)


class EvidenceIndex:
    """The index at ``index_path`` (an SQLite file); thread-safe."""

    def __init__(self, index_path: Path) -> None:
        self.index_path = index_path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(index_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(
                f"evidence index {index_path} is unreadable ({exc}): expected an SQLite file "
                "written by SiteWatch; restore it from a backup, or move it aside to start an "
                "empty one"
            ) from exc
        legacy = index_path.with_suffix(".json")
        if legacy != index_path and legacy.is_file():
            self._import(legacy)

    def open_alert(self, alert_id: str, at: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO alerts (id, open, opened_at) VALUES (?, 1, ?)",
                (alert_id, at),
            )

    def add_files(self, alert_id: str, files: Sequence[FileAtPath]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO alerts (id, open, opened_at) VALUES (?, 1, ?)",
                (alert_id, time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO files (alert_id, path) VALUES (?, ?)",
                [(alert_id, str(f.path)) for f in files],
            )

    def close_alert(self, alert_id: str, at: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE alerts SET open = 0, closed_at = ? WHERE id = ?", (at, alert_id)
            )

    def is_open(self, alert_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT open FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return row is not None and bool(row[0])

    def alerts(self) -> dict[str, AlertFiles]:
        """A snapshot copy: alert id -> its state and files (in the order they were added)."""
        with self._lock:
            rows = self._db.execute("SELECT id, open, opened_at, closed_at FROM alerts").fetchall()
            files = self._db.execute("SELECT alert_id, path FROM files ORDER BY n").fetchall()
        out = {a: AlertFiles(bool(o), opened, closed) for a, o, opened, closed in rows}
        for alert_id, path in files:
            out[alert_id].files.append(path)
        return out

    def forget_file(self, alert_id: str, path: Path) -> None:
        """Drop a deleted file from its closed alert (the alert goes with its last file)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            row = self._db.execute("SELECT open FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                raise KeyError(alert_id)
            if row[0]:
                raise ValueError(f"alert {alert_id} is open: its evidence is never deleted")
            self._db.execute(
                "DELETE FROM files WHERE alert_id = ? AND path = ?", (alert_id, str(path))
            )
            self._db.execute(
                "DELETE FROM alerts WHERE id = ? AND NOT EXISTS "
                "(SELECT 1 FROM files WHERE alert_id = ?)",
                (alert_id, alert_id),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _import(self, legacy: Path) -> None:
        try:
            raw = json.loads(legacy.read_text())["alerts"]
            records = {k: AlertFiles(**v) for k, v in raw.items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"evidence index {legacy} (the old JSON index) is unreadable ({exc!r}): "
                "restore it from a backup, or move it aside to start an empty one"
            ) from exc
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for alert_id, r in records.items():
                self._db.execute(
                    "INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?)",
                    (alert_id, int(r.open), r.opened_at, r.closed_at),
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO files (alert_id, path) VALUES (?, ?)",
                    [(alert_id, p) for p in r.files],
                )
        legacy.rename(legacy.with_name(legacy.name + ".imported"))
        log.info("evidence index: imported %d alerts from %s", len(records), legacy)

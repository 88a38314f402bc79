"""What a segment ring must keep: open-alert pins and legal holds, in a file beside the ring.

A :class:`HoldStore` keeps ``holds.json`` in the ring's folder, rewritten atomically
(:func:`sitewatch.edge.atomic.write_atomic`) on every change and read back by a new store on
the same folder, so both survive a restart. Each entry is a wall-clock range (epoch seconds):

- ``pin``: an alert's clip window, set when the alert starts and removed once its clip is cut.
  A pin older than :data:`PIN_MAX_AGE_S` is dropped (its clip job died with a crash).
- ``legal``: a legal hold, kept until :meth:`HoldStore.release`; never expires.

Several stores on one folder (a camera's ring replaced at a restart) see each other's changes:
every change re-reads the file first, and :meth:`HoldStore.spans` re-reads it when it changed.
A file that cannot be read makes :meth:`HoldStore.covers` say True for everything, so nothing
is deleted until someone repairs or removes it. Pins never raise (see ``_change``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sitewatch.edge.atomic import write_atomic

log = logging.getLogger(__name__)

HoldKind = Literal["pin", "legal"]
HOLDS_FILE = "holds.json"
PIN_MAX_AGE_S = 86400.0
"""An alert pin lives for seconds in a healthy run; one this old lost its clip job."""
RECHECK_S = 0.5
"""How often a store looks at its file for changes made outside this process."""
_LOCK = threading.Lock()  # one for all stores: two stores on one folder must not interleave
_SAVES: dict[Path, int] = {}  # saves per file in this process: stores see each other at once


@dataclass(frozen=True)
class Hold:
    """Keep every segment overlapping [start, end] (wall clock, epoch seconds)."""

    id: str
    kind: HoldKind
    start: float
    end: float
    reason: str = ""
    created_at: float = 0.0


class HoldsFileError(RuntimeError):
    """The holds file exists but cannot be read; the ring deletes nothing meanwhile."""


class HoldStore:
    """The holds of one ring folder (see module doc)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / HOLDS_FILE
        self._holds: dict[str, Hold] = {}
        self._stamp: tuple[int, int, int] | None = None  # the file last read; None: absent
        self._broken = ""
        self._seen = (-1, float("-inf"))  # (saves in this process, monotonic time) at last look
        with _LOCK:
            self._load(force=True)

    def pin(self, alert_id: str, start: float, end: float) -> None:
        """Keep [start, end] for an open alert's clip until :meth:`unpin`."""
        self._change(alert_id, Hold(alert_id, "pin", start, end, "open alert", time.time()))

    def unpin(self, alert_id: str) -> None:
        self._change(alert_id, None, kind="pin")

    def hold(self, hold_id: str, start: float, end: float, reason: str) -> Hold:
        """A legal hold on [start, end]; ``reason`` says who asked and why (case, order)."""
        if not end > start:
            raise ValueError(f"a hold needs end > start, got {start} .. {end}")
        if not reason.strip():
            raise ValueError("a legal hold needs a reason (who asked, case number)")
        held = Hold(hold_id, "legal", start, end, reason.strip(), time.time())
        self._change(hold_id, held)
        log.info(
            "legal hold %s on %s: %.0f..%.0f (%s)", hold_id, self.path.parent, start, end, reason
        )
        return held

    def release(self, hold_id: str) -> None:
        """End a legal hold; ``KeyError`` naming the holds there are if there is none."""
        with _LOCK:
            self._load(force=True)
            if self._holds.get(hold_id, Hold("", "pin", 0, 0)).kind != "legal":
                known = sorted(h.id for h in self._holds.values() if h.kind == "legal")
                raise KeyError(f"no legal hold {hold_id!r} in {self.path}; holds: {known}")
        self._change(hold_id, None, kind="legal")
        log.info("legal hold %s on %s released", hold_id, self.path.parent)

    def spans(self) -> list[Hold]:
        """Every hold and pin, re-read if the file changed (the disk manager's thread too)."""
        with _LOCK:
            self._load()
            return list(self._holds.values())

    @property
    def broken(self) -> str:
        """Why the holds file cannot be read, or "" when it can (or is absent)."""
        with _LOCK:
            self._load()
            return self._broken

    def covers(self, start: float, end: float) -> bool:
        """Whether a segment [start, end] overlaps a hold (True while the file is unreadable)."""
        held = self.spans()
        return bool(self._broken) or any(start < h.end and end > h.start for h in held)

    def expire(self, now: float) -> list[Hold]:
        """Drop pins older than :data:`PIN_MAX_AGE_S` (logged); the legal holds stay."""
        with _LOCK:
            self._load(force=True)
            old = [h for h in self._holds.values() if h.kind == "pin"]
            old = [h for h in old if h.created_at < now - PIN_MAX_AGE_S]
            if old:
                for h in old:
                    del self._holds[h.id]
                try:
                    self._save()
                except OSError as exc:  # pruning must go on on a full disk
                    log.warning("holds file %s not written (%s)", self.path, exc)
        for h in old:
            log.warning(
                "ring %s: dropping the pin of alert %s, set %.1f h ago (its clip was never cut)",
                self.path.parent, h.id, (now - h.created_at) / 3600,
            )  # fmt: skip
        return old

    def _change(self, key: str, value: Hold | None, kind: HoldKind | None = None) -> None:
        """Set or remove one entry and save. A pin never raises (an alert's start must not
        fail for it): with the file unreadable everything is kept anyway, and on a full disk
        the pin holds in memory until a later save. A legal hold raises instead."""
        is_pin = (value.kind if value is not None else kind) == "pin"
        with _LOCK:
            self._load(force=True)
            if self._broken:
                if is_pin:
                    return
                raise HoldsFileError(self._broken)
            before = dict(self._holds)
            if value is not None:
                self._holds[key] = value
            elif key in self._holds and self._holds[key].kind == kind:
                del self._holds[key]
            else:
                return
            try:
                self._save()
            except OSError as exc:
                if not is_pin:
                    self._holds = before
                    raise
                log.warning(
                    "holds file %s not written (%s): the pin of %s is kept in memory only",
                    self.path, exc, key,
                )  # fmt: skip

    def _save(self) -> None:
        data = {"holds": [asdict(h) for h in self._holds.values()]}
        write_atomic(self.path, json.dumps(data, indent=1).encode())
        self._stamp = _stamp(self.path)
        _SAVES[self.path] = _SAVES.get(self.path, 0) + 1
        self._seen = (_SAVES[self.path], time.monotonic())

    def _load(self, force: bool = False) -> None:
        """Re-read the file if it changed since the last read (caller holds ``_LOCK``); the
        file is looked at when this process saved it or ``RECHECK_S`` passed, or ``force``."""
        saves, now = _SAVES.get(self.path, 0), time.monotonic()
        fresh = saves == self._seen[0] and now - self._seen[1] < RECHECK_S
        if fresh and not force and not self._broken:
            return
        self._seen = (saves, now)
        try:
            stamp = _stamp(self.path)
            if stamp == self._stamp and not self._broken:
                return
            if stamp is None:
                self._holds, self._stamp, self._broken = {}, None, ""
                return
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            holds = [_hold(item) for item in raw["holds"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not self._broken:
                log.error(
                    "holds file %s cannot be read (%s): this ring deletes no segment until it "
                    "is repaired or removed", self.path, exc,
                )  # fmt: skip
            self._broken = f"holds file {self.path} cannot be read ({exc}); repair or remove it"
            return
        self._holds = {h.id: h for h in holds}
        self._stamp, self._broken = stamp, ""


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime ns, size): every atomic rewrite makes a new inode."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _hold(item: dict[str, object]) -> Hold:
    hold = Hold(**item)  # type: ignore[arg-type]
    if hold.kind not in ("pin", "legal") or not hold.end >= hold.start:
        raise ValueError(f"a hold of kind pin or legal with end >= start, got {item}")
    return hold

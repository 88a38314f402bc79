"""Which config commands the edge obeys: signed by the console, fresh, in order, never seen.

A :class:`CommandGate` stands before :func:`sitewatch.edge.commands.apply_command`. A command passes
when it carries a valid signature of ``trust.console_public_key``, was issued at most
``command_max_age_s`` before and :data:`MAX_AHEAD_S` after this edge's clock, is newer than the
last command the gate took, and its request id was never taken. A command that passes is
*taken*, whatever ``apply_command`` then decides: its issued_at and request id go to a state
file beside the config (``<config>.command-state.json``) before any other file work, so neither
a replay nor a restart reopens it. At most :data:`APPLIED_PER_MINUTE` commands are applied a
minute. Applied commands are appended to ``<config>.commands.jsonl`` (one JSON object a line:
who issued it, when, the console key's fingerprint, the new version) and logged.

Signatures are checked first and cost no file work, so a flood of unsigned commands never
reaches the YAML; their answers are capped too (:meth:`CommandGate.answer_refusal`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from sitewatch.contract import messages as m
from sitewatch.contract.signing import fingerprint, parse_public_key, verify
from sitewatch.edge.atomic import write_atomic

log = logging.getLogger(__name__)

MAX_AHEAD_S = 30.0
"""Most seconds a command's issued_at may lie ahead of the edge's clock (clock skew)."""
APPLIED_PER_MINUTE = 30
"""Most commands applied in any 60 s; more are refused (each applied one rewrites the YAML)."""
ANSWERED_PER_MINUTE = 60
"""Most refusals of badly signed commands answered in any 60 s; the rest are only counted."""
REMEMBERED_IDS = 256
"""Request ids kept in the state file (older ones are refused anyway: they are out of order)."""


class CommandGate:
    """Decides whether a config command may be applied; remembers what it took."""

    def __init__(
        self,
        config_path: Path,
        console_public_key: str | None,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.state_path = config_path.with_name(config_path.name + ".command-state.json")
        self.history_path = config_path.with_name(config_path.name + ".commands.jsonl")
        self.max_age_s, self.clock = max_age_s, clock
        self._key = parse_public_key(console_public_key) if console_public_key else None
        self.key_fingerprint = fingerprint(console_public_key) if console_public_key else None
        self._applied: deque[float] = deque()  # clock() of recent applied commands
        self._answered: deque[float] = deque()  # clock() of recent answered refusals
        self._lock = threading.Lock()  # answers are counted on paho's thread and the main loop
        self.unanswered = 0
        """Badly signed or unreadable commands refused without an answer or a log line."""
        self._last_at, self._seen = self._load_state()

    # -- checks ------------------------------------------------------------------------------
    def signature_problem(self, cmd: m.Command) -> str | None:
        """Why ``cmd`` is not signed by the console's key, or None. Pure: safe on any thread."""
        if self._key is None:
            return (
                "expected a command this edge can check, but its config has no "
                "trust.console_public_key, so it takes no config command: set it to the "
                f"output of 'sitewatch server public-key' in {self.config_path} and restart "
                "the edge"
            )
        if not cmd.signature:
            return (
                f"expected a command signed by the console's key {self.key_fingerprint}, got "
                "an unsigned one: it did not come from a console that signs its commands; "
                "nothing changed"
            )
        if not verify(cmd, self._key):
            return (
                f"expected the signature of the console's key {self.key_fingerprint}, got one "
                "that does not match (another key, or the command was changed on the way): "
                "check that trust.console_public_key is this console's key "
                "('sitewatch server public-key'); nothing changed"
            )
        return None

    def take(self, cmd: m.Command) -> str | None:
        """Why ``cmd`` must not be applied, or None: then it is taken (and remembered)."""
        problem = self.signature_problem(cmd)
        if problem is not None:
            return problem
        now = self.clock()
        at = cmd.issued_at.timestamp()
        if now - at > self.max_age_s:
            return (
                f"expected a command issued within the last {self.max_age_s:g} s, got one "
                f"issued {now - at:.0f} s ago ({cmd.issued_at.isoformat()}): make the change "
                "again; if this repeats, check both clocks (NTP)"
            )
        if at - now > MAX_AHEAD_S:
            return (
                f"expected issued_at at most {MAX_AHEAD_S:g} s ahead of the edge's clock, got "
                f"{at - now:.0f} s ahead ({cmd.issued_at.isoformat()}): check both clocks (NTP)"
            )
        if cmd.request_id in self._seen:
            return (
                f"expected a new request, got request {cmd.request_id} a second time: a "
                "replay; the console sends every change with a new request id"
            )
        if self._last_at is not None and cmd.issued_at <= self._last_at:
            return (
                f"expected a command issued after the last one taken "
                f"({self._last_at.isoformat()}), got one issued at {cmd.issued_at.isoformat()}: "
                "an older command that came late, or a replay; make the change again"
            )
        self._last_at = cmd.issued_at  # taken, in memory even if the file cannot be written
        self._seen.append(cmd.request_id)
        try:
            self._save_state(cmd.issued_at)
        except OSError as exc:
            return (
                f"expected to record the command in {self.state_path} first, got "
                f"{exc.strerror or exc}: free disk space on the edge and make the change again"
            )
        while self._applied and now - self._applied[0] >= 60.0:
            self._applied.popleft()
        if len(self._applied) >= APPLIED_PER_MINUTE:
            return (
                f"expected at most {APPLIED_PER_MINUTE} applied commands a minute, got one more "
                "within 60 s: wait a minute and make the change again"
            )
        return None

    def answer_refusal(self) -> bool:
        """Whether to answer (result and log line) a badly signed or unreadable command now,
        or only count it: at most :data:`ANSWERED_PER_MINUTE` a minute."""
        with self._lock:
            now = self.clock()
            while self._answered and now - self._answered[0] >= 60.0:
                self._answered.popleft()
            if len(self._answered) >= ANSWERED_PER_MINUTE:
                self.unanswered += 1
                return False
            self._answered.append(now)
            return True

    def count_unanswered(self) -> None:
        """One more refused without an answer (its queue was full)."""
        with self._lock:
            self.unanswered += 1

    def take_unanswered(self) -> int:
        """How many were refused unanswered since the last call (for the next log line)."""
        with self._lock:
            count, self.unanswered = self.unanswered, 0
            return count

    # -- records -----------------------------------------------------------------------------
    def record(self, cmd: m.Command, version: int) -> None:
        """An applied command: counted, logged and appended to the history file."""
        self._applied.append(self.clock())
        entry = {
            "applied_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            "request_id": str(cmd.request_id),
            "issued_by": cmd.issued_by,
            "issued_at": cmd.issued_at.isoformat(),
            "console_key": self.key_fingerprint,
            "camera_id": cmd.camera_id,
            "action": cmd.action if isinstance(cmd, m.CameraCommand) else "zones",
            "base_version": cmd.base_version,
            "version": version,
        }
        log.info(
            "config version %d applied: camera %s, issued by %s at %s, signed by the console "
            "key %s (request %s)",
            version,
            cmd.camera_id,
            cmd.issued_by,
            entry["issued_at"],
            self.key_fingerprint,
            cmd.request_id,
        )
        try:
            with self.history_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # the change is made; a full disk must not undo it
            log.warning("command history %s not written: %s", self.history_path, exc)

    def _load_state(self) -> tuple[datetime | None, deque[UUID]]:
        seen: deque[UUID] = deque(maxlen=REMEMBERED_IDS)
        if not self.state_path.exists():
            return None, seen
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            last = datetime.fromisoformat(data["last_issued_at"])
            seen.extend(UUID(i) for i in data["request_ids"])
            if last.tzinfo is None:
                raise ValueError("last_issued_at has no time zone")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            now = datetime.fromtimestamp(self.clock(), UTC)
            log.warning(
                "command state %s unreadable (%s): only commands issued after %s are taken; "
                "the file is rewritten with the next one",
                self.state_path,
                exc,
                now.isoformat(),
            )
            return now, seen
        return last, seen

    def _save_state(self, last_at: datetime) -> None:
        """Before anything else is written for the command taken: a crash cannot reopen it."""
        data = {
            "last_issued_at": last_at.isoformat(),
            "request_ids": [str(i) for i in self._seen],
        }
        write_atomic(self.state_path, json.dumps(data, indent=1).encode())

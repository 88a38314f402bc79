"""The worker's desk for config commands: takes them off MQTT, queues them, answers them.

:meth:`CommandDesk.receive` runs on paho's thread: it reads a ``ConfigCommand`` or
``CameraCommand`` and checks its signature there, so that a flood of unsigned commands fills
only its own bounded queue (:data:`COMMANDS_QUEUED`), never the console's. The main loop calls
:meth:`CommandDesk.serve`: refusals are answered (up to the gate's rate, else counted), commands
handed to the worker's apply function, and every answer is a ``ConfigResult`` given to ``post``.
A command this edge cannot read (a newer version, a bow-tie zone) is answered too when it names
its request id: the console learns why instead of waiting.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from sitewatch.contract import messages as m
from sitewatch.edge.command_gate import CommandGate
from sitewatch.edge.commands import Outcome
from sitewatch.edge.config.schema import SiteConfig
from sitewatch.edge.publish.delivery import utc

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMANDS_QUEUED = 64
"""Config commands (and, apart, refusals) waiting for the main loop; more are dropped, counted."""
REASON_CHARS = 4000
"""Longest refusal reason a ConfigResult carries (the contract's bound)."""


class CommandDesk:
    """Commands in, results out; ``post`` sends a result (signed, through the outbox)."""

    def __init__(
        self, gate: CommandGate, post: Callable[[m.ConfigResult], None], software: str
    ) -> None:
        self.gate, self.post, self.software = gate, post, software
        self._commands: queue.Queue[m.Command] = queue.Queue(maxsize=COMMANDS_QUEUED)
        self._refusals: queue.Queue[tuple[UUID, str, str]] = queue.Queue(
            maxsize=COMMANDS_QUEUED
        )  # request id, issued_by (as it says), reason

    def receive(self, topic: str, payload: bytes) -> None:
        """On paho's thread: a command read, checked for its signature and queued."""
        try:
            cmd = m.decode(payload)
            if not isinstance(cmd, m.ConfigCommand | m.CameraCommand):
                raise m.ContractError(
                    f"expected {m.ConfigCommand.SCHEMA} or {m.CameraCommand.SCHEMA}, got "
                    f"{cmd.SCHEMA}: the sender uses the wrong topic"
                )
        except m.ContractError as exc:
            request_id = _request_id(payload)
            if request_id is None:
                if self.gate.answer_refusal():  # a flood of garbage must not flood the log
                    log.warning("ignored a config command on %s: %s", topic, exc)
                return
            reason = f"this edge (SiteWatch {self.software}) cannot read the command: {exc}"
            self._queue(self._refusals, (request_id, "(unread)", reason))
            return
        problem = self.gate.signature_problem(cmd)
        if problem is not None:
            self._queue(self._refusals, (cmd.request_id, cmd.issued_by, problem))
        else:
            self._queue(self._commands, cmd)

    def serve(self, config: SiteConfig, apply: Callable[[m.Command], Outcome]) -> None:
        """On the main loop: answer the queued refusals (``config`` is the one running), then
        apply the queued commands one by one and answer each."""
        while not self._refusals.empty():
            request_id, issued_by, reason = self._refusals.get()
            if self.gate.answer_refusal():
                self.answer(request_id, issued_by, Outcome(config, False, reason))
        while not self._commands.empty():
            cmd = self._commands.get()
            self.answer(cmd.request_id, cmd.issued_by, apply(cmd))

    def answer(self, request_id: UUID, issued_by: str, out: Outcome) -> None:
        """The ConfigResult of a command, with the version now running; a refusal is logged."""
        if not out.applied:
            unanswered = self.gate.take_unanswered()
            more = f" ({unanswered} more refused unanswered before it)" if unanswered else ""
            log.warning(
                "config change %s (issued_by %r, as it says) refused%s: %s",
                request_id,
                issued_by,
                more,
                out.reason,
            )
        self.post(
            m.ConfigResult(
                request_id=request_id,
                site_id=out.config.site.id,
                status="applied" if out.applied else "refused",
                version=str(out.config.version),
                reason=out.reason[:REASON_CHARS] if out.reason else None,
                at=utc(time.time()),
            )
        )

    def _queue(self, q: queue.Queue[T], item: T) -> None:
        try:
            q.put_nowait(item)
        except queue.Full:
            self.gate.count_unanswered()


def _request_id(payload: bytes) -> UUID | None:
    """The ``request_id`` of a command this edge cannot read, if it names a valid one."""
    try:
        data = json.loads(payload)
        return UUID(str(data["request_id"])) if isinstance(data, dict) else None
    except (ValueError, KeyError, RecursionError):
        return None

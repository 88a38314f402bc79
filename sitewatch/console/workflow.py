"""The alert workflow as pure functions: which action leads where, and what it records.

    new            -> acknowledge | assign | resolve | false_positive
    acknowledged   -> assign | resolve | false_positive
    assigned       -> assign (reassign) | resolve | false_positive
    resolved       -> reopen (-> acknowledged)
    false_positive -> reopen (-> acknowledged)
    any state      -> note (no change)

``acknowledged_at`` is set on the first step out of ``new`` (whatever the step);
``closed_at`` on resolve / false positive (evidence retention counts from it) and cleared
on reopen. False positives keep their evidence: they are the next model's training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sitewatch.console.schemas import ActionName, AlertState

TRANSITIONS: Final[dict[str, dict[str, str]]] = {
    "new": {
        "acknowledge": "acknowledged",
        "assign": "assigned",
        "resolve": "resolved",
        "false_positive": "false_positive",
    },
    "acknowledged": {
        "assign": "assigned",
        "resolve": "resolved",
        "false_positive": "false_positive",
    },
    "assigned": {"assign": "assigned", "resolve": "resolved", "false_positive": "false_positive"},
    "resolved": {"reopen": "acknowledged"},
    "false_positive": {"reopen": "acknowledged"},
}
CLOSING: Final = frozenset({"resolved", "false_positive"})


class WorkflowError(ValueError):
    """An action that cannot be taken as asked; ``str()`` says why and what is allowed."""


class InvalidTransition(WorkflowError):
    def __init__(self, state: str, action: str) -> None:
        self.state = state
        self.action = action
        self.allowed = allowed_actions(state)
        super().__init__(
            f"cannot {action!r} an alert that is {state!r}: from {state!r} the allowed "
            f"actions are {', '.join(self.allowed)}"
        )


class MissingInput(WorkflowError):
    """The action lacks what it needs (an assignee, a note) or has what it must not."""


@dataclass(frozen=True)
class Workflow:
    """An alert's workflow fields."""

    state: str
    assignee: str | None
    acknowledged_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class Change:
    """One step: the alert's new workflow fields and the action row to record."""

    action: ActionName
    from_state: AlertState
    to_state: AlertState
    username: str
    at: datetime
    note: str
    assignee: str | None  # the alert's assignee after the step
    acknowledged_at: datetime | None
    closed_at: datetime | None


def allowed_actions(state: str) -> tuple[str, ...]:
    """Actions that may be taken on an alert in ``state`` (``note`` always may)."""
    if state not in TRANSITIONS:
        raise WorkflowError(
            f"unknown alert state {state!r}: expected one of {', '.join(TRANSITIONS)}"
        )
    return (*TRANSITIONS[state], "note")


def step(
    current: Workflow,
    action: ActionName,
    *,
    username: str,
    at: datetime,
    note: str = "",
    assignee: str | None = None,
) -> Change:
    """The change ``action`` makes to ``current``; raises :class:`WorkflowError` if none."""
    note = note.strip()
    if action not in allowed_actions(current.state):
        raise InvalidTransition(current.state, action)
    if action == "assign" and not (assignee and assignee.strip()):
        raise MissingInput("'assign' needs an assignee: the user name of who takes the alert")
    if action != "assign" and assignee is not None:
        raise MissingInput(f"an assignee is only for 'assign', not for {action!r}: leave it out")
    if action == "note" and not note:
        raise MissingInput("'note' needs a note: write what was seen or done")
    to_state = current.state if action == "note" else TRANSITIONS[current.state][action]
    new_assignee = current.assignee
    if action == "assign":
        new_assignee = (assignee or "").strip()
    elif action == "reopen":
        new_assignee = None
    acknowledged_at = current.acknowledged_at
    if acknowledged_at is None and current.state == "new" and to_state != "new":
        acknowledged_at = at
    closed_at = current.closed_at
    if to_state in CLOSING and current.state not in CLOSING:
        closed_at = at
    elif action == "reopen":
        closed_at = None
    return Change(
        action=action,
        from_state=current.state,  # type: ignore[arg-type]
        to_state=to_state,  # type: ignore[arg-type]
        username=username,
        at=at,
        note=note,
        assignee=new_assignee,
        acknowledged_at=acknowledged_at,
        closed_at=closed_at,
    )

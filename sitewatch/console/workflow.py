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

States, actions and the table are defined here once; the HTTP schemas and the tables import
them, and ``python -m sitewatch.console.enums_js`` writes them into the browser's ``enums.js``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

AlertState = Literal["new", "acknowledged", "assigned", "resolved", "false_positive"]
ActionName = Literal["acknowledge", "assign", "resolve", "false_positive", "reopen", "note"]

ALERT_STATES: Final[tuple[AlertState, ...]] = get_args(AlertState)
ACTIONS: Final[tuple[ActionName, ...]] = get_args(ActionName)
CLOSED_STATES: Final[tuple[AlertState, ...]] = ("resolved", "false_positive")
"""States an alert is closed in: evidence retention counts from its ``closed_at``."""
OPEN_STATES: Final[tuple[AlertState, ...]] = tuple(
    s for s in ALERT_STATES if s not in CLOSED_STATES
)
"""States an alert still needs work in: the feed's default, the open counts."""
CLOSING: Final = frozenset(CLOSED_STATES)

TRANSITIONS: Final[dict[AlertState, dict[ActionName, AlertState]]] = {
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
"""From each state, each action's next state; ``note`` (any state, no change) is not listed."""


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


def allowed_actions(state: str) -> tuple[ActionName, ...]:
    """Actions that may be taken on an alert in ``state`` (``note`` always may)."""
    return (*TRANSITIONS[_known(state)], "note")


def _known(state: str) -> AlertState:
    for known in ALERT_STATES:
        if state == known:
            return known
    raise WorkflowError(f"unknown alert state {state!r}: expected one of {', '.join(TRANSITIONS)}")


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
    from_state = _known(current.state)
    to_state = from_state if action == "note" else TRANSITIONS[from_state][action]
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
        from_state=from_state,
        to_state=to_state,
        username=username,
        at=at,
        note=note,
        assignee=new_assignee,
        acknowledged_at=acknowledged_at,
        closed_at=closed_at,
    )

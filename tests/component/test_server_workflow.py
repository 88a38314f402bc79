"""The alert workflow: the pure state machine on literal data, then every transition over the
real API on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sitewatch.console.store.models import ALERT_STATES, AuditEntry
from sitewatch.console.workflow import (
    InvalidTransition,
    MissingInput,
    Workflow,
    WorkflowError,
    allowed_actions,
    step,
)
from tests.support.console_support import Console, add_users, jpeg_bytes, seed_alert
from tests.support.postgres import any_database_console, postgres_fixture, postgres_url  # noqa: F401

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=3)
ACTIONS = ("acknowledge", "assign", "resolve", "false_positive", "reopen", "note")
# (from state, action) -> to state; every pair not listed must be refused
ALLOWED = {
    ("new", "acknowledge"): "acknowledged",
    ("new", "assign"): "assigned",
    ("new", "resolve"): "resolved",
    ("new", "false_positive"): "false_positive",
    ("acknowledged", "assign"): "assigned",
    ("acknowledged", "resolve"): "resolved",
    ("acknowledged", "false_positive"): "false_positive",
    ("assigned", "assign"): "assigned",
    ("assigned", "resolve"): "resolved",
    ("assigned", "false_positive"): "false_positive",
    ("resolved", "reopen"): "acknowledged",
    ("false_positive", "reopen"): "acknowledged",
    **{(s, "note"): s for s in ALERT_STATES},
}
PAIRS = [(s, a) for s in ALERT_STATES for a in ACTIONS]


def _before(state: str) -> Workflow:
    """Workflow fields as they would be for an alert in ``state`` (acted on at T0)."""
    return Workflow(
        state=state,
        assignee="wang.fang" if state == "assigned" else None,
        acknowledged_at=None if state == "new" else T0,
        closed_at=T0 if state in ("resolved", "false_positive") else None,
    )


def _args(action: str) -> dict[str, str]:
    return {"assignee": "zhao.lei"} if action == "assign" else {}


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_every_state_and_action_is_allowed_exactly_as_the_table_says(
    state: str, action: str
) -> None:
    current = _before(state)
    if (state, action) not in ALLOWED:
        with pytest.raises(InvalidTransition) as err:
            step(current, action, username="li.wei", at=T1, note="x", **_args(action))  # type: ignore[arg-type]
        assert err.value.allowed == allowed_actions(state)
        assert f"from {state!r} the allowed actions are" in str(err.value)
        return
    change = step(current, action, username="li.wei", at=T1, note=" checked ", **_args(action))  # type: ignore[arg-type]
    assert (change.from_state, change.to_state) == (state, ALLOWED[(state, action)])
    assert (change.username, change.at, change.note) == ("li.wei", T1, "checked")
    # acknowledged_at: set by the first step out of new, never moved afterwards
    if state == "new" and action != "note":
        assert change.acknowledged_at == T1
    else:
        assert change.acknowledged_at == current.acknowledged_at
    # closed_at: set when it closes, kept by a note on a closed alert, cleared on reopen
    if change.to_state in ("resolved", "false_positive"):
        assert change.closed_at == (T0 if state == change.to_state else T1)
    else:
        assert change.closed_at is None
    expected_assignee = {"assign": "zhao.lei", "reopen": None}.get(action, current.assignee)
    assert change.assignee == expected_assignee


def test_allowed_actions_per_state() -> None:
    assert allowed_actions("new") == ("acknowledge", "assign", "resolve", "false_positive", "note")
    assert allowed_actions("assigned") == ("assign", "resolve", "false_positive", "note")
    assert allowed_actions("resolved") == ("reopen", "note")
    with pytest.raises(WorkflowError, match="unknown alert state 'open'"):
        allowed_actions("open")


@pytest.mark.parametrize(
    ("action", "kwargs", "message"),
    [
        ("assign", {}, "'assign' needs an assignee"),
        ("assign", {"assignee": "  "}, "'assign' needs an assignee"),
        ("acknowledge", {"assignee": "zhao.lei"}, "an assignee is only for 'assign'"),
        ("note", {"note": "   "}, "'note' needs a note"),
    ],
)
def test_missing_or_misplaced_input_is_refused(
    action: str, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(MissingInput, match=message):
        step(_before("new"), action, username="li.wei", at=T1, **kwargs)  # type: ignore[arg-type]


def test_reopened_alert_acknowledged_at_stays_and_closes_again_with_a_new_time() -> None:
    w = _before("new")
    for action, at in (("resolve", T1), ("reopen", T1 + timedelta(hours=1))):
        c = step(w, action, username="li.wei", at=at)  # type: ignore[arg-type]
        w = Workflow(c.to_state, c.assignee, c.acknowledged_at, c.closed_at)
    assert (w.state, w.acknowledged_at, w.closed_at) == ("acknowledged", T1, None)
    later = T1 + timedelta(hours=2)
    c = step(w, "false_positive", username="li.wei", at=later)
    assert (c.acknowledged_at, c.closed_at) == (T1, later)


# --- over the API, on SQLite and PostgreSQL ---

PATHS = {
    "acknowledged": ["acknowledge"],
    "assigned": ["assign"],
    "resolved": ["resolve"],
    "false_positive": ["false_positive"],
    "new": [],
}


def _drive(c, alert_id: str, actions: list[str]) -> None:  # type: ignore[no-untyped-def]
    for action in actions:
        r = c.post(f"/api/alerts/{alert_id}/actions", json={"action": action, **_args(action)})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_api_transition(console: Console, state: str, action: str) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("zhao.lei", "manager", ["north"]))
    c = console.login("li.wei")
    alert_id = seed_alert(console)
    _drive(c, alert_id, PATHS[state])
    before = c.get(f"/api/alerts/{alert_id}").json()
    assert before["state"] == state
    t_before = datetime.now(UTC)
    r = c.post(
        f"/api/alerts/{alert_id}/actions",
        json={"action": action, "note": f"{action} from {state}", **_args(action)},
    )
    if (state, action) not in ALLOWED:
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert f"cannot {action!r} an alert that is {state!r}" in detail
        assert ", ".join(allowed_actions(state)) in detail
        assert c.get(f"/api/alerts/{alert_id}").json() == before  # nothing changed
        return
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["state"] == ALLOWED[(state, action)]
    last = after["actions"][-1]
    assert (last["username"], last["action"], last["from_state"], last["to_state"]) == (
        "li.wei",
        action,
        state,
        after["state"],
    )
    assert last["note"] == f"{action} from {state}"
    assert t_before <= datetime.fromisoformat(last["at"]) <= datetime.now(UTC)
    if state == "new" and action != "note":
        assert after["acknowledged_at"] == last["at"]
    else:
        assert after["acknowledged_at"] == before["acknowledged_at"]
    if after["state"] in ("resolved", "false_positive") and state != after["state"]:
        assert after["closed_at"] == last["at"]
    elif action == "reopen":
        assert after["closed_at"] is None
    if action == "assign":
        assert after["assignee"] == last["assignee"] == "zhao.lei"
    assert _last_audit(console, alert_id) == (action, "li.wei", "alert")


def _last_audit(console: Console, object_id: str) -> tuple[str, str, str]:
    state = console.client.app.state.sitewatch  # type: ignore[attr-defined]
    with state.db.session() as s:
        row = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_id == object_id)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert row is not None, f"no audit row for {object_id}"
        return (row.action, row.username, row.object_type)


def test_false_positive_keeps_its_evidence_and_leaves_the_open_list(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]))
    c = console.login("li.wei")
    snap = jpeg_bytes("cone, not a head")
    alert_id = seed_alert(console, files=[("snapshot.jpg", "snapshot", "image/jpeg", snap)])
    r = c.post(
        f"/api/alerts/{alert_id}/actions",
        json={"action": "false_positive", "note": "traffic cone, not a bare head"},
    )
    assert r.status_code == 200 and r.json()["closed_at"] is not None
    assert c.get("/api/alerts").json()["total"] == 0  # default list: open alerts
    fps = c.get("/api/alerts", params={"state": "false_positive"}).json()
    assert [a["id"] for a in fps["items"]] == [alert_id]
    detail = c.get(f"/api/alerts/{alert_id}").json()
    assert [e["status"] for e in detail["evidence"]] == ["stored"]
    assert c.get(detail["evidence"][0]["url"]).content == snap


def test_assign_needs_a_user_of_the_site_who_may_work_alerts(console: Console) -> None:
    add_users(
        console,
        ("li.wei", "manager", ["north"]),
        ("south.boss", "manager", ["south"]),
        ("north.op", "operator", ["north"]),
        ("north.police", "police", ["north"]),
    )
    c = console.login("li.wei")
    alert_id = seed_alert(console)
    for body in ({"action": "assign"}, {"action": "assign", "assignee": "nobody"}):
        r = c.post(f"/api/alerts/{alert_id}/actions", json=body)
        assert r.status_code == 422, r.text
    r = c.post(
        f"/api/alerts/{alert_id}/actions", json={"action": "assign", "assignee": "south.boss"}
    )
    assert r.status_code == 422 and "sees site 'north'" in r.json()["detail"]
    for other in ("north.op", "north.police"):  # they see the site but may not work alerts
        r = c.post(f"/api/alerts/{alert_id}/actions", json={"action": "assign", "assignee": other})
        assert r.status_code == 422 and "may work alerts" in r.json()["detail"], other
    assert c.get(f"/api/alerts/{alert_id}").json()["state"] == "new"


def test_two_managers_acting_at_once_one_wins_the_other_gets_409(console: Console) -> None:
    """Real concurrency on the real database. Resolve and false positive are each allowed
    from 'new' but neither after the other: whatever the interleaving, one must get 409."""
    add_users(console, ("li.wei", "manager", ["north"]), ("wang.fang", "manager", ["north"]))
    clients = [console.login("li.wei"), console.login("wang.fang")]
    alerts = [seed_alert(console) for _ in range(4)]
    for alert_id in alerts:
        barrier = threading.Barrier(2)
        codes: list[int] = []

        def act(
            c: TestClient,
            action: str,
            alert_id: str = alert_id,
            barrier: threading.Barrier = barrier,
            codes: list[int] = codes,
        ) -> None:
            barrier.wait()
            r = c.post(f"/api/alerts/{alert_id}/actions", json={"action": action})
            codes.append(r.status_code)

        threads = [
            threading.Thread(target=act, args=(c, a))
            for c, a in zip(clients, ("resolve", "false_positive"), strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [200, 409], codes
        detail = clients[0].get(f"/api/alerts/{alert_id}").json()
        assert len(detail["actions"]) == 1
        assert detail["state"] == detail["actions"][0]["to_state"]

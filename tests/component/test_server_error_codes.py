"""The console's error answers over its real API (SQLite): each carries a registered code and
the params its text fills in, beside the English detail; new audit rows carry their detail's
template."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from sitewatch.console.error_codes import CODES
from sitewatch.console.store.models import AuditEntry
from tests.support.console_support import (  # noqa: F401   (fixture: console)
    Console,
    add_users,
    console_fixture,
    seed_alert,
)

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _coded(r: Any, status: int, code: str) -> dict[str, Any]:
    """The body of ``r``, checked: ``status``, ``code`` (registered), every placeholder of the
    code's text among the params, an English detail beside them."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text}"
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert code in CODES
    missing = set(PLACEHOLDER.findall(CODES[code])) - set(body["params"])
    assert not missing, f"{code}: params lack {missing}: {body}"
    assert body["detail"], body
    return body


def test_errors_carry_codes_and_params(console: Console) -> None:
    add_users(console, ("chen.mgr", "manager", ["north"]), ("li.police", "police", ["north"]))
    alert_id = seed_alert(console, "north", "gate", state="resolved")
    anonymous = console.client
    _coded(anonymous.get("/api/alerts"), 401, "auth.not_logged_in")
    manager = console.login("chen.mgr")
    _coded(anonymous.get("/api/nowhere/at/all"), 404, "http.404")

    body = _coded(
        manager.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge"}),
        409,
        "workflow.step_not_allowed",
    )
    assert body["params"]["state"] == "resolved" and body["params"]["action"] == "acknowledge"
    assert "reopen" in body["params"]["allowed"]

    body = _coded(
        manager.post(f"/api/alerts/{alert_id}/actions", json={"action": "fly"}),
        422,
        "validation.choice",
    )
    assert body["params"]["field"] == "action" and body["params"]["got"] == "fly"
    assert isinstance(body["detail"], list), "FastAPI's list of problems stays in detail"
    _coded(manager.get("/api/alerts", params={"limit": "ten"}), 422, "validation.type")

    body = _coded(manager.get("/api/alerts/no-such-alert"), 404, "alert.not_found")
    assert body["params"] == {"alert": "no-such-alert"}
    _coded(manager.get("/api/alerts", params={"site": "south"}), 404, "scope.no_site")

    no_header = console.login("chen.mgr")
    del no_header.headers["X-CSRF-Token"]
    _coded(
        no_header.post(f"/api/alerts/{alert_id}/actions", json={"action": "reopen"}),
        403,
        "csrf.missing",
    )
    police = console.login("li.police")
    body = _coded(
        police.post(f"/api/alerts/{alert_id}/actions", json={"action": "reopen"}),
        403,
        "auth.role_may_not",
    )
    assert body["params"]["role"] == "police"
    _coded(
        anonymous.post("/api/auth/login", json={"username": "chen.mgr", "password": "x" * 12}),
        401,
        "auth.wrong_credentials",
    )


def test_a_workflow_step_is_audited_with_its_template(console: Console) -> None:
    add_users(console, ("chen.mgr", "manager", ["north"]), ("root", "admin", ["*"]))
    alert_id = seed_alert(console, "north", "gate")
    manager = console.login("chen.mgr")
    r = manager.post(f"/api/alerts/{alert_id}/actions", json={"action": "acknowledge"})
    assert r.status_code == 200, r.text
    r = console.login("root").get("/api/audit", params={"alert": alert_id})
    assert r.status_code == 200, r.text
    rows = r.json()
    step = next(row for row in rows if row["action"] == "acknowledge")
    assert step["detail_key"] == "step"
    assert step["detail_params"] == {"from_state": "new", "to_state": "acknowledged"}
    assert step["detail"] == "new -> acknowledged", "the English text stays beside it"
    with console.state.db.session() as s:
        old = AuditEntry(username="x", action="view", object_type="alert", object_id="a")
        s.add(old)
        s.commit()
        stored = s.scalar(select(AuditEntry).where(AuditEntry.username == "x"))
        assert stored is not None and stored.detail_key is None, "rows without one show detail"


def test_a_bow_tie_zone_is_refused_in_the_edge_refusal_s_words(console: Console) -> None:
    """The editor shows the console's refusal of a self-crossing zone with the code the edge's
    refusal of it maps to (zone.edges_cross = edge_reason.edges_cross): the same message."""
    add_users(console, ("wu.op", "operator", ["north"]))
    seed_alert(console, "north", "gate")
    operator = console.login("wu.op")
    bow_tie = {"id": "yard", "kind": "helmet_required",
               "points": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}  # fmt: skip
    body = _coded(
        operator.post(
            "/api/cameras/north/gate/config", json={"base_version": "1", "zones": [bow_tie]}
        ),
        422,
        "zone.edges_cross",
    )
    assert body["params"]["a"] == 1 and body["params"]["b"] == 3, body["params"]

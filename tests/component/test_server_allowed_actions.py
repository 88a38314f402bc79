"""The alert detail carries the workflow actions its reader may take: the workflow's table for
a role that may work alerts, none for one that may not; live events and the export's
``alert.json`` stay the same for everyone (they carry none)."""

from __future__ import annotations

import asyncio

from sitewatch.console.events import LiveEvent
from sitewatch.console.workflow import allowed_actions
from tests.support.console_support import Console, add_users, console_fixture, seed_alert  # noqa: F401


def _listen(console: Console) -> asyncio.Queue[LiveEvent]:
    """A live-event queue like an SSE stream's, on the app's loop."""

    async def subscribe() -> asyncio.Queue[LiveEvent]:
        return console.state.hub.subscribe()  # type: ignore[no-any-return]

    return console.client.portal.call(subscribe)  # type: ignore[union-attr]


def _next(console: Console, q: asyncio.Queue[LiveEvent]) -> LiveEvent:
    async def get() -> LiveEvent:
        return await asyncio.wait_for(q.get(), 20.0)

    return console.client.portal.call(get)  # type: ignore[union-attr]


def test_a_manager_gets_the_tables_actions_and_the_police_none(console: Console) -> None:
    add_users(console, ("li.wei", "manager", ["north"]), ("officer.chen", "police", ["north"]))
    manager, police = console.login("li.wei"), console.login("officer.chen")
    alert_id = seed_alert(console)
    url = f"/api/alerts/{alert_id}"
    assert manager.get(url).json()["allowed_actions"] == list(allowed_actions("new"))
    assert police.get(url).json()["allowed_actions"] == []

    live = _listen(console)
    r = manager.post(f"{url}/actions", json={"action": "resolve", "note": "hat on"})
    assert r.status_code == 200, r.text
    assert r.json()["allowed_actions"] == ["reopen", "note"]  # the state it is in now
    assert manager.get(url).json()["allowed_actions"] == ["reopen", "note"]
    assert police.get(url).json()["allowed_actions"] == []
    event = _next(console, live)  # what every page of the site gets
    assert (event.kind, event.data["id"], event.data["state"]) == ("alert", alert_id, "resolved")
    assert "allowed_actions" not in event.data

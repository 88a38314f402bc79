"""Browser notifications in headless Chromium against the real console (uvicorn, mosquitto
ingest): with permission granted, a new incident arriving live shows a Notification (title:
rule and camera name, body: site and time) whose click opens the alert, and the service worker
registers, shows a push delivered to it and, clicked, brings the console tab to the push's page.

Headless Chromium draws no notifications on a screen, so the page's ``window.Notification`` is
wrapped by an init script that records each one (and still makes the real one); the service
worker's are read back with ``registration.getNotifications()``. The push goes to the worker
through Chromium's DevTools protocol (``ServiceWorker.deliverPushMessage``): a real push
service is out of these machines' reach, and the console's signed, encrypted request to one
is tested against a local receiver in tests/component/test_push.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    SiteEdge,
    browser_fixture,
    jpeg,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.mqtt_broker import Mosquitto

SITE = "pushy"
ZONE = "Asia/Shanghai"  # the browser's zone: the site's edge reports none
RECORD = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  window.__made = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: (options || {}).body || "", tag: (options || {}).tag });
      window.__made.push(this);
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""


def test_a_new_incident_shows_a_notification_and_the_worker_shows_a_push(
    browser: Any, served: Served, mqtt: Mosquitto, tmp_path: Any
) -> None:
    served.add_user("push.pm", "manager", [SITE])
    api = served.api("push.pm")
    edge = SiteEdge(mqtt, SITE)
    edge.online({"gate": "Gate"}, jpeg(tmp_path), [])

    def named() -> bool:
        cameras = served.get_json(api, "/api/cameras")
        return any(c["camera_id"] == "gate" and c["name"] == "Gate" for c in cameras)

    wait_until("the console has the camera's name from its edge", named)
    context = browser.new_context(timezone_id=ZONE)
    context.grant_permissions(["notifications"], origin=served.url)
    context.add_init_script(RECORD)
    page, errors = open_page(context)
    login(page, served.url, "push.pm")
    page.click("nav.main a[data-path=notify]")
    button = page.wait_for_selector("#browser-notify-allow[data-permission=granted]")
    assert page.input_value("#browser-notify-choice") == "incidents"
    button.click()  # allowed already: subscribes to push (out of reach here) and registers /sw.js
    page.wait_for_selector("#browser-notify-status:has-text('Browser notifications are on')")
    assert page.evaluate("() => window.__notes.length") == 0, "nothing notified yet"
    # playwright's contexts are incognito: Chromium refuses pushManager.subscribe there and
    # says so on the console; the page tells the user push is not available here
    page.wait_for_selector("#browser-notify-status:has-text('Push with the tab closed is not')")

    started = datetime.now(UTC) - timedelta(seconds=5)
    first = uuid.uuid4()
    edge.publish_alert(edge.alert_start(first, "gate", [], started))
    page.wait_for_function("() => window.__notes.length > 0", timeout=20_000)
    [note] = page.evaluate("() => window.__notes")
    assert note["title"] == "No hard hat · Gate", "the rule and the camera's name, not its id"
    local = started.astimezone(ZoneInfo(ZONE)).strftime("%H:%M:%S")
    assert note["body"].startswith(f"{SITE} · ") and local in note["body"], note
    page.evaluate("() => window.__made[0].onclick(new Event('click'))")  # as a click on it
    page.wait_for_function(f"() => location.hash === '#/alert/{first}'")
    edge.publish_alert(edge.alert_start(uuid.uuid4(), "gate", [], started + timedelta(seconds=9)))
    wait_until(
        "the second alert joins the incident",
        lambda: any(i["alert_count"] == 2 for i in served.get_json(api, "/api/incidents")["items"]),
    )
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__notes.length") == 1, "a growing incident is not new"
    page.click("nav.main a[data-path=notify]")
    page.select_option("#browser-notify-choice", "alerts")  # every new alert, this user chose
    edge.publish_alert(edge.alert_start(uuid.uuid4(), "gate", [], started + timedelta(seconds=20)))
    page.wait_for_function("() => window.__notes.length === 2", timeout=20_000)
    assert page.evaluate("() => window.__notes[1].title") == "No hard hat · Gate"

    # the service worker: registered by the button, controls the page's origin
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope", None)
    assert scope == served.url + "/"
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    live = []
    for _ in range(80):  # the sync API hands events over only while it waits on the browser
        page.wait_for_timeout(250)
        live = [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]
        if live:
            break
    assert live, f"DevTools lists no registration for {scope}: {registrations}"
    registration = live[0]
    data = {"title": "Push title", "body": "Push body", "tag": "t-1", "url": "/#/incidents"}
    read = """async () => {
      const reg = await navigator.serviceWorker.ready;
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body,
        tag: n.tag, url: n.data && n.data.url }));
    }"""
    shown: list[dict[str, Any]] = []
    for attempt in range(60):  # delivered again every 5 s: one delivery was once seen to go
        if attempt % 20 == 0:  # unshown (the same tag: a second never adds a notification)
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {"origin": served.url, "registrationId": registration["registrationId"],
                 "data": json.dumps(data)},
            )  # fmt: skip
        page.wait_for_timeout(250)
        shown = page.evaluate(read)
        if shown:
            break
    assert shown == [
        {"title": "Push title", "body": "Push body", "tag": "t-1", "url": "/#/incidents"}
    ]
    # a click on it: DevTools cannot click a notification, so the worker gets a notificationclick
    # made in its own scope for the notification it shows (untrusted: its waitUntil throws,
    # after the handler has started to focus the tab, which then follows the push's url)
    [worker] = [w for w in context.service_workers if w.url == served.url + "/sw.js"]
    worker.evaluate(
        """async () => {
          const [note] = await self.registration.getNotifications();
          try {
            self.dispatchEvent(new NotificationEvent("notificationclick", { notification: note }));
          } catch (err) {}
        }"""
    )
    page.wait_for_function("() => location.hash === '#/incidents'")
    page.click("#logout")  # forgets this browser's push subscription first (none here)
    page.wait_for_selector("#username")
    assert [e for e in errors if "Push API in incognito" not in e] == [], errors
    context.close()

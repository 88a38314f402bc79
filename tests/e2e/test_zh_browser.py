"""The zh-CN pages with no English server text, in headless Chromium against the real console
(uvicorn, real mosquitto ingest, an edge stand-in): a zh-CN admin walks the feed, incidents,
an alert, audit, statistics, cameras (with the edge's warnings, sent in English with their codes),
zones, notifications and users, and meets three server
refusals: a workflow step no longer allowed, a bad form value, a config change the edge refuses
against a stale version. Every page's visible text and every error shown must hold no English
sentence.

What counts as English: three or more Latin words in a row (a word: letters, digits, ``._'-``)
once the allowed words are taken out: ids and user names of this test, product and protocol
names (:data:`ALLOWED`), the language picker's "English". Single Latin tokens (an id, "UTC+8")
pass; so do numbers and units.
"""

# ruff: noqa: RUF001  (Chinese text has its own full-width punctuation)

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitewatch.console.store.models import ConfigRequest
from sitewatch.contract import messages as m
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

SITE = "zhsite"
CAMERAS = {"gate": "东大门", "crane": "塔吊"}
ADMIN, OTHER = "zh.admin", "zh.other"
ALLOWED = {"SiteWatch", "RTSP", "MQTT", "JSON", "PDF", "xlsx", "CSV", "English", "UTC", "GMT"}
ALLOWED |= {SITE, *CAMERAS, ADMIN, OTHER, "zh.third", "floor"}
WORD = "[A-Za-z][A-Za-z0-9._'\u2019-]*"
STALE_REASON = (
    "the change was made against config version 7, the edge runs 8: reload the camera and "
    "make the change again"
)


def english_runs(text: str) -> list[str]:
    """Runs of three or more Latin words (allowed words removed) in ``text``."""
    kept = re.sub(WORD, lambda w: " " if w.group(0) in ALLOWED else w.group(0), text)
    return re.findall(rf"{WORD}(?:[ \t,:;()]+{WORD}){{2,}}", kept)


def test_english_runs_are_found_and_ids_pass() -> None:
    """The check itself: a sentence is caught, ids, numbers and names are not."""
    assert english_runs("操作未完成：cannot 'acknowledge' an alert that is resolved") != []
    assert english_runs(f"告警 3f2a-11 在 {SITE} / gate，12:03 UTC+8，SiteWatch MQTT RTSP") == []


def visible_text(page: Any) -> str:
    text: str = page.evaluate("() => document.querySelector('main, #app').innerText")
    return text


def check_page(page: Any, url: str, ready: str) -> str:
    """Open ``url``, wait for ``ready``, and return its text after checking it."""
    page.goto(url)
    page.wait_for_selector(ready)
    page.wait_for_function("() => !document.querySelector('#app').innerText.includes('加载中')")
    text = visible_text(page)
    runs = english_runs(text)
    assert runs == [], f"{url}: English on a zh-CN page: {runs}"
    return text


def test_zh_cn_pages_and_server_errors_are_chinese(
    browser: Any, served: Served, mqtt: Mosquitto, tmp_path: Path
) -> None:
    served.add_user(ADMIN, "admin", ["*"], "zh-CN")
    served.add_user(OTHER, "manager", [SITE], "en")
    admin, other = served.api(ADMIN), served.api(OTHER)
    edge = SiteEdge(mqtt, SITE)
    zone = m.ZoneSpec(id="floor", name="作业区", kind="helmet_required",
                      points=[(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)])  # fmt: skip
    try:
        warnings = [  # the edge's standing warnings, shown translated from their codes
            m.edge_warning("tile_look.small_frames", width=640, height=360, input_size=416),
            m.edge_warning("model.int8_saturates", model="sitewatch.onnx"),
        ]
        edge.online(CAMERAS, jpeg(tmp_path), [zone], warnings)
        wait_until(
            "the edge's cameras and their warnings reach the console",
            lambda: (
                [bool(c["warnings"]) for c in served.get_json(admin, "/api/cameras")]
                == [True] * len(CAMERAS)
            ),
        )
        r = admin.patch(f"/api/sites/{SITE}", json={"name": "一号工地"})
        assert r.status_code == 200, r.text
        start = datetime.now(UTC) - timedelta(minutes=5)
        alert_ids = []
        for i, camera in enumerate(["gate", "gate", "crane"]):
            aid = uuid.uuid4()
            edge.publish_alert(edge.alert_start(aid, camera, [], start + timedelta(seconds=30 * i)))
            alert_ids.append(str(aid))
        wait_until(
            "ingest stores the alerts",
            lambda: len(served.get_json(admin, f"/api/alerts?site={SITE}")["items"]) == 3,
        )
        step = other.post(f"/api/alerts/{alert_ids[2]}/actions", json={"action": "acknowledge"})
        assert step.status_code == 200, step.text  # an audited step, shown in the audit log
        served.add_user("zh.third", "manager", [SITE], "zh-CN")
        changed = admin.patch("/api/users/zh.third", json={"role": "operator"})
        assert changed.status_code == 200, changed.text  # an audited user change

        context = browser.new_context(locale="zh-CN")
        page, errors = open_page(context)
        page.on("dialog", lambda dialog: dialog.accept())
        login(page, served.url, ADMIN)
        url = served.url
        feed = check_page(page, f"{url}/#/alerts", "#feed-summary:not(:empty)")
        assert "一号工地" in feed, "the feed names the site by its display name"
        page.locator("#feed td.c-where", has_text="东大门").first.wait_for()  # and the camera
        page.locator("#feed td.c-rule", has_text="作业区").first.wait_for()  # and the zone
        check_page(page, f"{url}/#/incidents", "main h1")
        check_page(page, f"{url}/#/stats", "main h1")
        cameras = check_page(page, f"{url}/#/cameras", "main h2")
        assert "东大门" in cameras and "一号工地" in cameras
        assert "640x360 画面太小" in cameras and "不支持 VNNI" in cameras, cameras
        check_page(page, f"{url}/#/notify", "main h1")
        check_page(page, f"{url}/#/users", f'#users tr[data-user="{OTHER}"]')
        audit = check_page(page, f"{url}/#/audit", '#audit tbody tr[data-action="acknowledge"]')
        assert "新告警 → 已确认" in audit, "the workflow step's detail in Chinese"
        assert "显示名称“" in audit, "the rename's detail in Chinese"
        assert "已修改：角色" in audit, "the user change's detail in Chinese"
        offsets = page.locator('#audit tbody tr[data-action="acknowledge"] .tz-offset')
        assert "UTC" in offsets.first.inner_text(), "each time says its zone's offset"

        # 1. a workflow step no longer allowed: resolved behind the page's back
        alert = check_page(page, f"{url}/#/alert/{alert_ids[0]}", '#alert-state[data-state="new"]')
        assert "一号工地" in alert and "东大门" in alert, "the alert names its site and camera"
        page.locator("dl.facts", has_text="作业区").wait_for()
        done = other.post(f"/api/alerts/{alert_ids[0]}/actions", json={"action": "resolve"})
        assert done.status_code == 200, done.text
        page.click('#workflow button[data-action="acknowledge"]')
        said = page.locator("#action-error")
        said.filter(has_text="不能执行").wait_for()
        error = said.inner_text()
        assert "已处理" in error and "确认" in error, error
        assert english_runs(error) == [], f"the refusal shows English: {error!r}"

        # 2. a bad form value: '*' (every site) beside a site in a user's row
        row = page.locator(f'#users tr[data-user="{OTHER}"]')
        check_page(page, f"{url}/#/users", f'#users tr[data-user="{OTHER}"]')
        row.locator("input[id^=sites-]").fill(f"*, {SITE}")
        row.locator("button", has_text="保存").click()
        said = row.locator(".error")
        said.filter(has_text="所有工地").wait_for()
        error = said.inner_text()
        assert english_runs(error) == [], f"the refusal shows English: {error!r}"

        # 3. a config change the edge refuses: made against a version it no longer runs
        commands = edge.listen_commands()
        check_page(page, f"{url}/#/zones/{SITE}/gate", "#zone-version:has-text('7')")
        page.fill("#rule-smoking-dwell_s", "5")
        page.locator("#rule-smoking-dwell_s").dispatch_event("change")
        page.click("#zone-save")
        page.wait_for_selector("#config-status[data-status=pending]")
        command = m.decode(commands.wait_for(1)[0][1], m.ConfigCommand)
        edge.config_result(str(command.request_id), "refused", "8", STALE_REASON)
        status = page.locator("#config-status[data-status=refused]")
        status.wait_for()
        error = status.inner_text()
        assert "版本 7" in error and "版本 8" in error, error
        assert english_runs(error) == [], f"the edge's refusal shows English: {error!r}"
        with served.state.db.session() as s:
            row = s.get(ConfigRequest, str(command.request_id))
            assert row is not None and row.reason == STALE_REASON  # stored as the edge said

        context.close()
        assert errors == [], f"the page logged script errors: {errors}"
    finally:
        edge.close()

"""Reports from the Statistics page in headless Chromium against the real console: a zh-CN
manager downloads yesterday's daily report as a PDF and this week's as an xlsx workbook, both
read back (the PDF's text in Chinese, the workbook's sheets)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader

from tests.support.browser_support import (  # noqa: F401   (fixtures: browser, mqtt, served)
    Served,
    SiteEdge,
    browser_fixture,
    login,
    mqtt_fixture,
    open_page,
    served_fixture,
    wait_until,
)
from tests.support.mqtt_broker import Mosquitto

SITE = "rep"


def test_a_manager_downloads_the_daily_pdf_and_the_weekly_xlsx(
    browser: Any, served: Served, mqtt: Mosquitto
) -> None:
    served.add_user("rep.zh", "manager", [SITE], "zh-CN")
    edge = SiteEdge(mqtt, SITE)
    start = datetime.now(UTC) - timedelta(minutes=5)
    edge.publish_alert(edge.alert_start(uuid.uuid4(), "gate", [], start))
    api = served.api("rep.zh")
    wait_until("the alert stored", lambda: served.get_json(api, "/api/alerts")["total"] == 1)

    context = browser.new_context(accept_downloads=True)
    page, errors = open_page(context)
    login(page, served.url, "rep.zh")
    page.click("nav.main a[data-path=stats]")
    page.wait_for_selector("#stats-reports a#r-pdf[href*='format=pdf']")
    assert page.inner_text("#stats-reports h2") == "报表"
    with page.expect_download() as pdf_download:
        page.click("#r-pdf")
    pdf = PdfReader(io.BytesIO(Path(pdf_download.value.path()).read_bytes()))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert "摄像头" in text or "告警" in text, text[:300]

    page.select_option("#r-period", "week")
    page.fill("#r-date", datetime.now(UTC).date().isoformat())
    page.dispatch_event("#r-date", "change")
    href = page.get_attribute("#r-xlsx", "href") or ""
    assert "period=week" in href and "format=xlsx" in href, href
    with page.expect_download() as xlsx_download:
        page.click("#r-xlsx")
    book = load_workbook(io.BytesIO(Path(xlsx_download.value.path()).read_bytes()), read_only=True)
    assert book.sheetnames, "an empty workbook"
    edge.transport.close()
    context.close()
    assert errors == [], "the page logged script errors"

"""Readable evidence and the phone layout in headless Chromium against the real console
(uvicorn, real mosquitto ingest): the close-up beside the snapshot shows the region of the
alert's box (a synthetic snapshot with a green rectangle exactly there, read back from the
canvas's pixels), a click on the snapshot opens the annotated full-resolution still, and at
390x844 the header is compact, the first alert card is on the first screen, nothing overflows
sideways, and the incidents' bulk actions sit at the bottom within a thumb's reach."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np

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

SITE = "readable"
BOX = (0.4, 0.2, 0.5, 0.35)  # SiteEdge.alert_start's box
PHONE = {"width": 390, "height": 844}
GREEN = (0, 255, 0)  # BGR


def _picture(w: int, h: int) -> bytes:
    """A grey picture with a green rectangle where BOX is and a red one far from it."""
    img = np.full((h, w, 3), 90, np.uint8)
    x1, y1, x2, y2 = round(BOX[0] * w), round(BOX[1] * h), round(BOX[2] * w), round(BOX[3] * h)
    img[y1:y2, x1:x2] = GREEN
    img[: h // 4, : w // 8] = (0, 0, 255)  # top left: not near the box
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


# the canvas's pixels: the share of green and red ones, and the green ones' bounding box (0..1)
READ_CROP = """(canvas) => {
  const g = canvas.getContext("2d");
  const { data, width, height } = g.getImageData(0, 0, canvas.width, canvas.height);
  let green = 0, red = 0, x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = (y * width + x) * 4, r = data[i], gr = data[i + 1], b = data[i + 2];
    if (gr > 180 && r < 90 && b < 90) {
      green++;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    if (r > 180 && gr < 90 && b < 90) red++;
  }
  const n = width * height;
  const box = [x0 / width, y0 / height, (x1 + 1) / width, (y1 + 1) / height];
  return { green: green / n, red: red / n, box };
}"""


def _expected_box(w: int, h: int, aspect: float) -> tuple[float, float, float, float]:
    """Where BOX lands in the close-up (the widget's geometry: a box size of margin each side,
    four head heights below a bare head, widened to the canvas's shape)."""
    bw, bh = (BOX[2] - BOX[0]) * w, (BOX[3] - BOX[1]) * h
    left, right = BOX[0] * w - bw, BOX[2] * w + bw
    top, bottom = BOX[1] * h - bh, BOX[3] * h + 4 * bh
    if (right - left) / (bottom - top) < aspect:
        mid, size = (left + right) / 2, (bottom - top) * aspect
        left, right = mid - size / 2, mid + size / 2
    cw, ch = right - left, bottom - top
    return (
        (BOX[0] * w - left) / cw,
        (BOX[1] * h - top) / ch,
        (BOX[2] * w - left) / cw,
        (BOX[3] * h - top) / ch,
    )


def _check_crop(canvas: Any, page: Any, w: int, h: int, aspect: float, where: str) -> None:
    got = page.evaluate(READ_CROP, canvas)
    want = _expected_box(w, h, aspect)
    assert got["green"] > 0.04, f"{where}: the close-up shows no box region: {got}"
    assert got["red"] < 0.001, f"{where}: the close-up shows what is far from the box: {got}"
    off = max(abs(a - b) for a, b in zip(got["box"], want, strict=True))
    assert off < 0.06, f"{where}: the box is at {got['box']} of the close-up, expected {want}"


def _send_alert(edge: SiteEdge, camera: str, started: datetime) -> str:
    aid = uuid.uuid4()
    files = {
        f"{aid}_snapshot.jpg": ("snapshot", _picture(640, 360)),
        f"{aid}_still.jpg": ("still", _picture(1280, 720)),
        f"{aid}_still_annotated.jpg": ("still_annotated", _picture(1280, 720)),
    }
    edge.publish_alert(edge.alert_start(aid, camera, edge.evidence(aid, files), started))
    return str(aid)


def test_close_up_phone_layout_and_full_still(
    browser: Any, served: Served, mqtt: Mosquitto
) -> None:
    served.add_user("readable.manager", "manager", [SITE])
    api = served.api("readable.manager")
    edge = SiteEdge(mqtt, SITE)
    start = datetime.now(UTC) - timedelta(minutes=5)
    first = _send_alert(edge, "gate", start)
    _send_alert(edge, "yard", start + timedelta(seconds=30))

    def stored() -> bool:
        ev = served.get_json(api, f"/api/alerts/{first}")["evidence"]
        return bool(sum(e["status"] == "stored" for e in ev) == 3)

    wait_until("the evidence is stored", stored)

    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True)
    page, errors = open_page(context)
    login(page, served.url, "readable.manager")
    page.goto(f"{served.url}/#/alerts")  # incidents are the page after login
    page.wait_for_selector(f"#feed-rows tr[data-id='{first}']")
    header = page.locator("header.top").bounding_box()
    assert header["height"] <= 0.12 * PHONE["height"], (
        f"the header takes {header['height']:.0f} px of the phone's {PHONE['height']}: "
        "at most 12 % (one compact row plus the navigation scroller)"
    )
    card = page.locator("#feed-rows tr.alert-row").first.bounding_box()
    assert card["y"] + card["height"] <= PHONE["height"], f"first card off screen: {card}"
    wide = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways on a phone: {wide}"

    canvas = page.wait_for_selector(f"#feed-rows tr[data-id='{first}'] canvas[data-ready='1']")
    _check_crop(canvas, page, 640, 360, 54 / 72, "feed")
    shot = page.locator(f"#feed-rows tr[data-id='{first}'] img.thumb").bounding_box()
    assert shot["width"] >= 200, f"the snapshot on a phone card is {shot['width']} px wide"
    crop_box = canvas.bounding_box()
    assert abs(crop_box["height"] - shot["height"]) < 3, "close-up and snapshot differ in height"

    page.click(f"#feed-rows tr[data-id='{first}'] .c-rule")
    opened = page.wait_for_selector("#snapshot-open")
    href = opened.get_attribute("href")
    assert href and href.endswith("_still_annotated.jpg"), f"the snapshot opens {href}"
    assert opened.get_attribute("target") == "_blank"
    big = page.wait_for_selector(".media canvas.evidence-crop[data-ready='1']")
    _check_crop(big, page, 1280, 720, 150 / 200, "alert detail")
    assert big.bounding_box()["width"] >= 90, "the close-up in the detail is too small to read"
    with context.expect_page() as popup:
        opened.click()
    still = popup.value
    still.wait_for_load_state()
    natural = "() => { const i = document.images[0]; return [i.naturalWidth, i.naturalHeight]; }"
    size = still.evaluate(natural)
    assert size == [1280, 720], f"the full-resolution still opened at {size}"
    still.close()

    page.goto(served.url + "/#/incidents")
    page.wait_for_selector("#incident-rows tr.incident-row")
    crop = page.wait_for_selector("#incident-rows tr.incident-row canvas[data-ready='1']")
    _check_crop(crop, page, 640, 360, 54 / 72, "incidents")
    wide = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert wide[0] <= wide[1], f"the incidents page scrolls sideways on a phone: {wide}"
    for button in page.locator("#incidents-bulk button").all():
        box = button.bounding_box()
        assert box["height"] >= 44, f"a bulk action is {box['height']} px high: too small a target"
        assert box["y"] + box["height"] > PHONE["height"] * 0.85, (
            f"a bulk action at y={box['y']:.0f} is out of a thumb's reach (bottom of the screen)"
        )
    assert errors == [], errors
    context.close()
    edge.close()


def test_phone_header_stays_compact_in_chinese(
    browser: Any, served: Served, mqtt: Mosquitto
) -> None:
    """The zh-CN brand is longer (it wrapped to two lines): it is cut, not wrapped; every page
    of the navigation stays reachable by scrolling it sideways."""
    served.add_user("readable.zh", "admin", [SITE], "zh-CN")
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True)
    page, errors = open_page(context)
    login(page, served.url, "readable.zh")
    page.wait_for_selector("main h1")
    header = page.locator("header.top").bounding_box()
    assert header["height"] <= 0.12 * PHONE["height"], f"zh-CN header {header['height']} px"
    brand = page.locator("header.top .brand").bounding_box()
    assert brand["height"] < 32, f"the brand wraps to {brand['height']} px instead of one line"
    wide = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert wide[0] <= wide[1], f"the page scrolls sideways on a phone in zh-CN: {wide}"
    last = page.locator("nav.main a").last
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, f"last page: {box}"
    last.click()
    page.wait_for_selector(
        f"nav.main a[aria-current=page][data-path={last.get_attribute('data-path')}]"
    )
    assert errors == [], errors
    context.close()

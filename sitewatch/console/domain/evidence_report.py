"""A printable one-page evidence report of one alert (PDF, English or Chinese), for police.

It shows the site, camera and zone by name, the rule, the alert's times in the site's zone, the
alert id, the SHA-256 of every evidence file, the picture with the detection box drawn at a
readable size and the person enlarged. The picture is the full-resolution still if there is
one, else the clean snapshot, else the annotated one. Every stored file is checked through the
chain of custody (:func:`custody.verified_file`): one that no longer matches its SHA-256
refuses the report, as it would an export; the list says each file's state. Making the report
is audited as a download of the alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import BytesIO
from typing import Any, Final

import cv2
import numpy as np
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.custody import EvidenceUnavailable, Tampered, verified_file
from sitewatch.console.domain.queries import alert_rows, get_alert
from sitewatch.console.domain.report_pdf import WIDTH, heading, line, new_pdf, table
from sitewatch.console.domain.report_text import Lang, text, word
from sitewatch.console.domain.reports import zone_of
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Alert, Camera, Evidence, Site, User

PICTURE_KINDS: Final = ("still", "snapshot_clean", "snapshot")  # first stored one is drawn on
BOX_COLOUR: Final = (0, 0, 255)  # BGR red
CROP_MARGIN: Final = 1.0  # the crop reaches this many box sizes beyond the box on each side
CROP_MIN_PX: Final = 160  # a crop narrower than this is widened (tiny boxes)
BELOW_HEAD: Final = 4.0  # a bare head's crop reaches this many head heights down: the person
CROP_SHOWN_PX: Final = 600  # a narrower crop is enlarged to this width before it is placed


@dataclass(frozen=True)
class EvidenceReport:
    pdf: bytes
    sha256: str  # of the PDF
    picture: str | None  # the evidence file drawn on, if any


def evidence_report(
    s: Session,
    settings: Settings,
    user: User,
    alert_id: str,
    lang: Lang,
    *,
    now: datetime,
    client: str | None = None,
) -> EvidenceReport:
    """The report of an alert ``user`` may see (else :class:`errors.NotFound`); the audit row
    is added to ``s`` for the caller to commit. Raises :class:`custody.EvidenceUnavailable`
    when the picture's bytes no longer match their SHA-256."""
    alert = get_alert(s, user, alert_id)
    rows = alert_rows(s, alert)
    site = s.get(Site, alert.site_id)
    camera = s.get(Camera, (alert.site_id, alert.camera_id))
    zone = zone_of(site.timezone if site else None)
    picture = next(
        (e for kind in PICTURE_KINDS for e in rows.evidence
         if e.kind == kind and e.status == "stored" and e.content_type == "image/jpeg"),
        None,
    )  # fmt: skip
    image = _read(settings, alert, picture) if picture is not None else None
    checked = [(e, _checked(settings, alert, e, lang)) for e in rows.evidence]

    t = partial(text, lang)
    title = t("evidence_report.title")
    pdf = new_pdf(f"{title} {alert.id}")
    pdf.set_auto_page_break(False)  # one page: everything is sized to fit
    pdf.add_page()
    heading(pdf, f"{title} · {word(lang, 'rule', alert.rule)}", 15)

    def when(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    facts = [
        [t("alert.id"), alert.id],
        [t("alert.site"), _named(site.name if site else "", alert.site_id)],
        [t("alert.camera"), _named(camera.name if camera else "", alert.camera_id)],
        [t("alert.zone"), _named(_zone_name(camera, alert.zone_id), alert.zone_id)],
        [t("feed.rule"), word(lang, "rule", alert.rule)],
        [t("evidence_report.started"), when(alert.started_at)],
        [t("evidence_report.ended"), when(alert.ended_at) if alert.ended_at else "—"],
        [t("alert.timezone"), str(zone)],
        [t("evidence_report.score"), f"{alert.score:.2f}"],
        [t("evidence_report.state"), word(lang, "state", alert.state)],
    ]
    table(pdf, None, facts, (1, 3))
    if image is not None and picture is not None:
        below = BELOW_HEAD if alert.label == "head" else CROP_MARGIN
        _pictures(pdf, boxed(image, alert.box, below), lang, picture.name)
    else:
        line(pdf, t("evidence_report.no_snapshot"))
        pdf.ln(3)
    heading(pdf, t("evidence_report.files"), 10)
    table(
        pdf,
        [t("evidence.name"), t("evidence.sha256"), t("evidence.status")],
        [[e.name, e.sha256, status] for e, status in checked],
        (4, 13, 4),
    )
    printed = t("evidence_report.printed", user=user.username, time=when(now))
    line(pdf, f"{printed} {t('evidence_report.times', tz=str(zone))}", 8)
    data = bytes(pdf.output())
    digest = hashlib.sha256(data).hexdigest()
    drawn = f"; picture {picture.name} sha256 {picture.sha256}" if picture else ""
    audit.record(
        s, user, "download", "alert", alert.id, site_id=alert.site_id, camera_id=alert.camera_id,
        detail=f"evidence report PDF ({lang}), sha256 {digest}{drawn}", client=client, at=now,
        key="evidence_report", params={"language": lang, "sha256": digest},
    )  # fmt: skip
    return EvidenceReport(data, digest, picture.name if picture else None)


def _named(name: str, ident: str) -> str:
    return f"{name} ({ident})" if name and name != ident else ident


def _zone_name(camera: Camera | None, zone_id: str) -> str:
    for z in camera.zones if camera and camera.zones else []:
        if isinstance(z, dict) and z.get("id") == zone_id:
            return str(z.get("name") or "")
    return ""


def _checked(settings: Settings, alert: Alert, ev: Evidence, lang: Lang) -> str:
    """The file's state in words, after checking a stored one's bytes; a file that no longer
    matches its SHA-256 refuses the whole report (:class:`custody.Tampered`)."""
    if ev.status != "stored":
        return word(lang, "evidence", ev.status)
    try:
        verified_file(settings, alert, ev)
    except Tampered:
        raise
    except EvidenceUnavailable:
        return text(lang, "evidence_report.missing")
    return word(lang, "evidence", "stored")


def _read(settings: Settings, alert: Alert, ev: Evidence) -> np.ndarray[Any, Any]:
    path = verified_file(settings, alert, ev)
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"evidence {ev.name!r} of alert {alert.id} is not a readable JPEG")
    return image


def boxed(
    image: np.ndarray[Any, Any], box: list[float], below: float = CROP_MARGIN
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The image with ``box`` (normalised 0..1 xyxy) drawn, its line about 0.4 % of the
    image's diagonal (at least 2 px), and the crop around it (the box plus
    :data:`CROP_MARGIN` box sizes on each side, ``below`` box heights under it, at least
    :data:`CROP_MIN_PX` wide and high), the box drawn in it too."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (
        min(max(round(v * s), 0), s - 1) for v, s in zip(box, (w, h, w, h), strict=True)
    )
    thick = max(2, round(0.004 * float(np.hypot(w, h))))
    drawn = image.copy()
    cv2.rectangle(drawn, (x1, y1), (x2, y2), BOX_COLOUR, thick)
    bw, bh = max(x2 - x1, 1), max(y2 - y1, 1)
    mx = max(int(bw * CROP_MARGIN), (CROP_MIN_PX - bw) // 2)
    my = max(int(bh * CROP_MARGIN), (CROP_MIN_PX - bh) // 2)
    cx1, cy1 = max(0, x1 - mx), max(0, y1 - my)
    cx2, cy2 = min(w, x2 + mx), min(h, y2 + max(my, int(bh * below)))
    crop = image[cy1:cy2, cx1:cx2].copy()
    cv2.rectangle(crop, (x1 - cx1, y1 - cy1), (x2 - cx1, y2 - cy1), BOX_COLOUR, 2)
    return drawn, crop


def _pictures(
    pdf: FPDF,
    pictures: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    lang: Lang,
    name: str,
) -> None:
    """The drawn picture (left, 2/3 of the width) and the crop (right), at most 95 mm high."""
    drawn, crop = pictures
    if crop.shape[1] < CROP_SHOWN_PX:  # enlarge smoothly rather than as blocks in the PDF
        f = CROP_SHOWN_PX / crop.shape[1]
        crop = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    top, gap, max_h = pdf.get_y(), 4.0, 95.0
    left_w = WIDTH * 2 / 3 - gap / 2
    right_w = WIDTH - left_w - gap
    pdf.set_font("sans", "B", 9)
    pdf.cell(left_w, 5, text(lang, "evidence_report.snapshot") + f" ({name})")
    pdf.set_x(pdf.l_margin + left_w + gap)
    pdf.cell(right_w, 5, text(lang, "evidence_report.crop"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y()
    heights = []
    placed = ((drawn, pdf.l_margin, left_w), (crop, pdf.l_margin + left_w + gap, right_w))
    for img, x, width in placed:
        ih, iw = img.shape[:2]
        scale = min(width / iw, max_h / ih)
        ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise ValueError("OpenCV could not encode the report's picture as JPEG")
        pdf.image(BytesIO(jpeg.tobytes()), x=x, y=top, w=iw * scale, h=ih * scale)
        heights.append(ih * scale)
    pdf.set_font("sans", "", 10)
    pdf.set_y(top + max(heights) + 4)

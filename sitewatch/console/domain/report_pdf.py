"""A report (:class:`reports.Report`) as a printable A4 PDF in English or Chinese, and the
fonts every SiteWatch PDF embeds.

Text is set in DejaVu Sans (Debian's fonts-dejavu-core) and every glyph it lacks (Chinese)
in Droid Sans Fallback (fonts-droid-fallback), both TrueType, embedded as subsets: the PDF
prints and its text extracts (Chinese included) on a machine without either font. ``make``
installs both (the Makefile's SYSTEM_PACKAGES). Sizes are in mm (A4: 210 x 297).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from sitewatch.console.domain.report_records import Durations, Report
from sitewatch.console.domain.report_text import Lang, text, word

FONT_DIRS: Final = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"))
FONTS: Final = {
    "sans": ("dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    "sans-bold": ("dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "cjk": ("droid/DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
}
LIST_ROWS: Final = 40  # overdue alerts printed; the xlsx has them all
WIDTH: Final = 180.0  # usable width of an A4 page with 15 mm margins


class FontMissing(RuntimeError):
    """A font the PDFs embed is not installed; ``str()`` names the Debian package."""


def font_file(key: str) -> Path:
    relative, package = FONTS[key]
    for folder in FONT_DIRS:
        if (folder / relative).is_file():
            return folder / relative
    raise FontMissing(
        f"font {relative} not found under {', '.join(str(d) for d in FONT_DIRS)}: install the "
        f"Debian package {package} (`make system-deps` does)"
    )


def new_pdf(title: str) -> FPDF:
    """An A4 document with the fonts set: ``sans`` (style ``""`` or ``"B"``), Chinese falling
    back to ``cjk`` glyph by glyph."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("sans", "", str(font_file("sans")))
    pdf.add_font("sans", "B", str(font_file("sans-bold")))
    pdf.add_font("cjk", "", str(font_file("cjk")))
    pdf.set_fallback_fonts(["cjk"], exact_match=False)
    pdf.set_title(title)
    pdf.set_creator("SiteWatch")
    pdf.set_font("sans", size=10)
    return pdf


def heading(pdf: FPDF, words: str, size: float = 12) -> None:
    pdf.set_font("sans", "B", size)
    pdf.multi_cell(WIDTH, size * 0.5, words, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("sans", "", 10)
    pdf.ln(1)


def line(pdf: FPDF, words: str, size: float = 10) -> None:
    pdf.set_font("sans", "", size)
    pdf.multi_cell(WIDTH, size * 0.5, words, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def table(
    pdf: FPDF,
    header: Sequence[str] | None,
    rows: Sequence[Sequence[object]],
    widths: Sequence[int],
) -> None:
    """A ruled table, its header (if any) in bold; ``widths`` are relative column widths."""
    pdf.set_font("sans", "", 9)
    with pdf.table(
        col_widths=tuple(widths),
        width=WIDTH,
        line_height=5.5,
        first_row_as_headings=header is not None,
    ) as t:
        if header is not None:
            head = t.row()
            for h in header:
                head.cell(h)
        for values in rows:
            row = t.row()
            for v in values:
                row.cell(str(v))
    pdf.ln(3)


def minutes(lang: Lang, seconds: float | None) -> str:
    return "—" if seconds is None else text(lang, "report.minutes", n=f"{seconds / 60:.1f}")


def local(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def period_words(report: Report, lang: Lang) -> str:
    if report.days == 1:
        return report.first_day.isoformat()
    first, last = report.first_day.isoformat(), report.last_day.isoformat()
    return text(lang, "report.range", first=first, last=last)


def report_pdf(report: Report, lang: Lang, site_label: str) -> bytes:
    """The report as PDF bytes; ``site_label``: the site's name, or "all sites"."""
    title = text(lang, "report.title_day" if report.period == "day" else "report.title_week")
    pdf = new_pdf(f"{title} · {site_label} · {period_words(report, lang)}")
    pdf.add_page()
    heading(pdf, f"{title} · {site_label}", 16)
    line(pdf, f"{text(lang, 'report.period')}: {period_words(report, lang)}")
    zones = ", ".join(f"{w.name} ({w.timezone})" for w in report.sites) or "—"
    line(pdf, f"{text(lang, 'report.sites')}: {zones}")
    line(pdf, text(lang, "report.timezone_note"))
    line(pdf, f"{text(lang, 'report.generated')}: {report.generated_at:%Y-%m-%d %H:%M} UTC")
    pdf.ln(3)
    heading(pdf, text(lang, "report.summary"))
    ack_none = text(lang, "report.not_acknowledged")
    table(
        pdf,
        ["", text(lang, "report.steps"), text(lang, "report.median"), text(lang, "report.p90")],
        [
            [text(lang, "report.total"), report.total, "", ""],
            [text(lang, "report.incidents"), report.incidents, "", ""],
            _durations_row(lang, text(lang, "report.ack"), report.acknowledge),
            _durations_row(lang, text(lang, "report.close"), report.close),
            [
                text(lang, "report.overdue", n=f"{report.overdue_after_min:g}"),
                len(report.overdue),
                "",
                "",
            ],
            [f"{ack_none}", sum(not o.acknowledged for o in report.overdue), "", ""],
            [text(lang, "report.overdue_incidents"), report.overdue_incidents, "", ""],
        ],
        (5, 2, 2, 2),
    )
    heading(pdf, text(lang, "report.by_rule"))
    table(
        pdf,
        [text(lang, "feed.rule"), text(lang, "report.count")],
        [[word(lang, "rule", r), n] for r, n in report.by_rule] or [[text(lang, "report.none"), 0]],
        (4, 1),
    )
    heading(pdf, text(lang, "report.by_camera"))
    table(
        pdf,
        [text(lang, "alert.site"), text(lang, "alert.camera"), text(lang, "report.count")],
        [[c.site_id, c.name, c.count] for c in report.by_camera]
        or [[text(lang, "report.none"), "", 0]],
        (2, 3, 1),
    )
    if report.days > 1:
        heading(pdf, text(lang, "report.by_day"))
        table(
            pdf,
            [text(lang, "report.day"), text(lang, "report.count")],
            [[d.isoformat(), n] for d, n in report.by_day],
            (4, 1),
        )
    heading(pdf, text(lang, "report.by_hour"))
    hours = report.by_hour
    table(
        pdf,
        [text(lang, "report.hour"), text(lang, "report.count")] * 3,
        [
            [f"{h:02d}", hours[h], f"{h + 8:02d}", hours[h + 8], f"{h + 16:02d}", hours[h + 16]]
            for h in range(8)
        ],
        (1, 1, 1, 1, 1, 1),
    )
    _overdue(pdf, report, lang)
    _offline(pdf, report, lang)
    return bytes(pdf.output())


def _durations_row(lang: Lang, name: str, d: Durations) -> list[object]:
    return [name, d.count, minutes(lang, d.median_s), minutes(lang, d.p90_s)]


def _overdue(pdf: FPDF, report: Report, lang: Lang) -> None:
    heading(pdf, text(lang, "report.overdue", n=f"{report.overdue_after_min:g}"))
    if not report.overdue:
        line(pdf, text(lang, "report.none"))
        pdf.ln(3)
        return
    rows = [
        [
            local(o.started_local),
            o.site_id,
            o.camera_id,
            word(lang, "rule", o.rule),
            f"{o.waited_min:.0f}",
            text(lang, "report.acknowledged_late" if o.acknowledged else "report.not_acknowledged"),
        ]
        for o in report.overdue[:LIST_ROWS]
    ]
    header = [text(lang, "alert.started"), text(lang, "alert.site"), text(lang, "alert.camera")]
    header += [text(lang, "feed.rule"), text(lang, "report.waited"), text(lang, "report.state")]
    table(pdf, header, rows, (3, 2, 2, 2, 2, 2))
    if len(report.overdue) > LIST_ROWS:
        line(pdf, text(lang, "report.more", n=len(report.overdue) - LIST_ROWS))
        pdf.ln(3)


def _offline(pdf: FPDF, report: Report, lang: Lang) -> None:
    heading(pdf, text(lang, "report.offline"))
    if not report.offline:
        line(pdf, text(lang, "report.none"))
        return
    table(
        pdf,
        [
            text(lang, "alert.site"),
            text(lang, "alert.camera"),
            text(lang, "report.state"),
            text(lang, "report.last_status"),
            text(lang, "report.error"),
        ],
        [
            [
                c.site_id,
                c.name,
                word(lang, "camera_state", c.state),
                f"{local(c.since)} UTC" if c.since else "—",
                c.error or "",
            ]
            for c in report.offline
        ],
        (2, 2, 2, 3, 4),
    )

"""A report (:class:`reports.Report`) as an xlsx workbook, headers in English or Chinese.

One sheet per table: summary, per camera, per rule, per hour, per day, overdue alerts (all of
them) and cameras offline. Counts are numbers; durations are seconds (numbers, the header says
so); times are the site's local time without a zone (Excel has none), the zone in the next
column, or UTC where the header says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sitewatch.console.domain.report_records import Report
from sitewatch.console.domain.report_text import Lang, text, word

SHEETS = ("summary", "by_camera", "by_rule", "by_hour", "by_day", "overdue", "offline")


def report_xlsx(report: Report, lang: Lang, site_label: str) -> bytes:
    """The workbook as bytes; sheet names are :data:`SHEETS` (stable, for scripts)."""
    t = partial(text, lang)
    wb = Workbook()
    summary = wb.active
    assert summary is not None  # a new workbook has one sheet
    summary.title = "summary"
    title = t("report.title_day" if report.period == "day" else "report.title_week")
    zones = {w.site_id: w.timezone for w in report.sites}
    _rows(
        summary,
        [title, site_label],
        [
            [t("report.period"), report.first_day, report.last_day],
            [t("report.generated") + " (UTC)", _naive(report.generated_at)],
            [t("report.sites"), ", ".join(f"{w.site_id} ({w.timezone})" for w in report.sites)],
            [t("report.total"), report.total],
            [t("report.incidents"), report.incidents],
            [t("report.ack"), report.acknowledge.count],
            [t("report.ack") + " · " + _s(lang, "report.median"), report.acknowledge.median_s],
            [t("report.ack") + " · " + _s(lang, "report.p90"), report.acknowledge.p90_s],
            [t("report.close"), report.close.count],
            [t("report.close") + " · " + _s(lang, "report.median"), report.close.median_s],
            [t("report.close") + " · " + _s(lang, "report.p90"), report.close.p90_s],
            [t("report.overdue", n=f"{report.overdue_after_min:g}"), len(report.overdue)],
            [t("report.overdue_incidents"), report.overdue_incidents],
            [t("report.offline"), len(report.offline)],
        ],
    )
    _rows(
        wb.create_sheet("by_camera"),
        [t("alert.site"), t("report.camera_id"), t("report.camera_name"), t("report.count")],
        [[c.site_id, c.camera_id, c.name, c.count] for c in report.by_camera],
    )
    _rows(
        wb.create_sheet("by_rule"),
        [t("report.rule_id"), t("feed.rule"), t("report.count")],
        [[r, word(lang, "rule", r), n] for r, n in report.by_rule],
    )
    _rows(
        wb.create_sheet("by_hour"),
        [t("report.hour"), t("report.count")],
        [[h, n] for h, n in enumerate(report.by_hour)],
    )
    _rows(
        wb.create_sheet("by_day"),
        [t("report.day"), t("report.count")],
        [[d, n] for d, n in report.by_day],
    )
    _rows(
        wb.create_sheet("overdue"),
        [
            t("alert.id"),
            t("alert.site"),
            t("alert.camera"),
            t("feed.rule"),
            t("alert.started"),
            t("alert.timezone"),
            t("report.state"),
            t("report.waited"),
            t("state.acknowledged"),
        ],
        [
            [
                o.alert_id,
                o.site_id,
                o.camera_id,
                word(lang, "rule", o.rule),
                _naive(o.started_local),
                zones.get(o.site_id, "UTC"),
                word(lang, "state", o.state),
                o.waited_min,
                o.acknowledged,
            ]
            for o in report.overdue
        ],
    )
    _rows(
        wb.create_sheet("offline"),
        [
            t("alert.site"),
            t("report.camera_id"),
            t("report.camera_name"),
            t("report.state"),
            t("report.last_status") + " (UTC)",
            t("report.error"),
        ],
        [
            [
                c.site_id,
                c.camera_id,
                c.name,
                word(lang, "camera_state", c.state),
                _naive(c.since) if c.since else None,
                c.error,
            ]
            for c in report.offline
        ],
    )
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _s(lang: Lang, key: str) -> str:
    return text(lang, "report.seconds", name=text(lang, key))


def _naive(t: datetime) -> datetime:
    """Excel keeps no zone: the wall time as given (local, or UTC where the header says)."""
    return t.replace(tzinfo=None)


def _rows(
    ws: Worksheet,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    for i, column in enumerate(ws.columns, start=1):
        width = max(len(str(c.value or "")) for c in column)
        ws.column_dimensions[get_column_letter(i)].width = min(max(10, width + 2), 60)

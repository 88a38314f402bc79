"""Scheduled reports through the outbox: the daily report of yesterday and, from Monday, the
weekly one of last week, per site, to the report routes (``NotifyRoute.reports``).

Due times are each site's local ``notify_report_at`` (its zone, UTC while unknown): the
period due is the one that ended before the latest due time passed, so a console down at that
time sends it once when it is back (only the latest period, never a backlog). Enqueueing is
deduped on report kind, site, period and route (``dedupe_key``): restarts and several
consoles send each report once. The message is composed when it is sent (the period is over
by then): a mail carries the xlsx, the robots and the webhook a markdown summary with the key
numbers and a link to download the full report from the console.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final, Literal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.domain.report_text import Lang
from sitewatch.console.domain.report_xlsx import report_xlsx
from sitewatch.console.domain.reports import build_report, zone_of
from sitewatch.console.notify.channels import Attachment, Message
from sitewatch.console.notify.texts import rule_names
from sitewatch.console.permissions import Scope
from sitewatch.console.settings import Settings
from sitewatch.console.store.models import Notification, NotifyRoute, Site, User

ReportKind = Literal["daily", "weekly"]
PERIOD: Final[dict[str, Literal["day", "week"]]] = {"daily": "day", "weekly": "week"}
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXTS: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "daily": "日报",
        "weekly": "周报",
        "title": "[SiteWatch] {kind} · {site} · {period}",
        "alerts": "- 告警 **{total}** 条,事件 **{incidents}** 个",
        "overdue": "- 超过 {minutes:g} 分钟未确认的事件: **{overdue}** 个",
        "ack": "- 确认用时中位数: {median}",
        "top_rule": "- 最多的违规: {rule}({count} 条)",
        "top_camera": "- 最多的摄像头: {camera}({count} 条)",
        "offline": "- 离线摄像头: {count} 个",
        "link": "[下载完整报表]({url})",
        "minutes": "{value:.1f} 分钟",
        "none": "无",
        "mail": "附件为完整报表 (xlsx)。",
    },
    "en": {
        "daily": "daily report",
        "weekly": "weekly report",
        "title": "[SiteWatch] {kind} · {site} · {period}",
        "alerts": "- Alerts: **{total}**, incidents: **{incidents}**",
        "overdue": "- Incidents not acknowledged within {minutes:g} min: **{overdue}**",
        "ack": "- Median time to acknowledge: {median}",
        "top_rule": "- Most frequent rule: {rule} ({count})",
        "top_camera": "- Busiest camera: {camera} ({count})",
        "offline": "- Cameras offline: {count}",
        "link": "[Download the full report]({url})",
        "minutes": "{value:.1f} min",
        "none": "none",
        "mail": "The full report (xlsx) is attached.",
    },
}


def say(language: str, key: str, **values: object) -> str:
    return TEXTS.get(language, TEXTS["en"])[key].format(**values)


def due_period(kind: str, local_now: datetime, at: time) -> tuple[date, datetime]:
    """The first day of the period due at local time ``local_now``, and when it fell due: the
    day before the latest ``at`` passed (daily), or the week (Monday) before the latest Monday
    ``at`` (weekly)."""
    today = local_now.date()
    passed = local_now.time() >= at
    if kind == "daily":
        point = today if passed else today - timedelta(days=1)
        return point - timedelta(days=1), datetime.combine(point, at, local_now.tzinfo)
    monday = today - timedelta(days=today.weekday())
    if monday == today and not passed:
        monday -= timedelta(days=7)
    return monday - timedelta(days=7), datetime.combine(monday, at, local_now.tzinfo)


def enqueue_reports(s: Session, now: datetime, settings: Settings) -> int:
    """Enqueue every report now due to every enabled report route, once (none that fell due
    before the route was made); returns how many."""
    routes = [
        r
        for r in s.scalars(select(NotifyRoute).order_by(NotifyRoute.id))
        if r.reports and r.enabled
    ]
    if not routes:
        return 0
    at = time.fromisoformat(settings.notify_report_at)
    sites = list(s.scalars(select(Site).order_by(Site.id)))
    count = 0
    for route in routes:
        scope = Scope.of(route)
        for site in (x for x in sites if scope.site(x.id)):
            local = now.astimezone(zone_of(site.timezone))
            for kind in route.reports or []:
                first, due_at = due_period(kind, local, at)
                if due_at < route.created_at:
                    continue
                key = f"report:{kind}:{site.id}:{first.isoformat()}:route:{route.id}"
                if s.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
                    continue
                name = site.name or site.id
                title = say(
                    route.language, "title", kind=say(route.language, kind), site=name,
                    period=first.isoformat(),
                )  # fmt: skip
                facts = {"kind": kind, "site_id": site.id, "first_day": first.isoformat()}
                s.add(
                    Notification(
                        dedupe_key=key, route_id=route.id, channel=route.channel, alert_id=None,
                        site_id=site.id, camera_id=None, level=0,
                        payload={"title": title, "line": title, "report": facts},
                        state="pending", attempts=0, next_try_at=now, created_at=now,
                    )
                )  # fmt: skip
                count += 1
    return count


def report_link(settings: Settings, site_id: str, period: str, first: date, lang: str) -> str:
    """The console's download URL of the full report (xlsx)."""
    base = settings.console_url or (settings.public_origins[0] if settings.public_origins else "")
    query = urlencode(
        {"site": site_id, "period": period, "date": first.isoformat(), "format": "xlsx",
         "lang": lang}
    )  # fmt: skip
    return f"{base.rstrip('/')}/api/reports?{query}"


def report_message(
    s: Session, route: NotifyRoute, row: Notification, key: str, now: datetime, settings: Settings
) -> Message:
    """The message of report notification ``row``, built from the database now."""
    facts = row.payload["report"]
    period = PERIOD[facts["kind"]]
    first = date.fromisoformat(facts["first_day"])
    lang: Lang = "zh-CN" if route.language == "zh-CN" else "en"
    reader = User(username=f"route:{route.id}", role="admin", language=lang, sites=route.sites,
                  cameras=route.cameras)  # fmt: skip
    rep = build_report(
        s, reader, site=facts["site_id"], period=period, day=first, generated_at=now,
        overdue_after_min=settings.notify_escalate_after_min,
    )  # fmt: skip
    label = rep.sites[0].name if rep.sites else facts["site_id"]
    ack = rep.acknowledge.median_s
    lines = [
        say(lang, "alerts", total=rep.total, incidents=rep.incidents),
        say(lang, "overdue", minutes=rep.overdue_after_min, overdue=rep.overdue_incidents),
        say(lang, "ack", median=say(lang, "none") if ack is None else say(lang, "minutes",
                                                                           value=ack / 60)),
    ]  # fmt: skip
    if rep.by_rule:
        rule, n = rep.by_rule[0]
        lines.append(say(lang, "top_rule", rule=rule_names(lang).get(rule, rule), count=n))
    if rep.by_camera:
        top = rep.by_camera[0]
        lines.append(say(lang, "top_camera", camera=top.name, count=top.count))
    lines.append(say(lang, "offline", count=len(rep.offline)))
    items = [{"id": row.id, **facts, "total": rep.total, "incidents": rep.incidents}]
    if route.channel == "email":
        name = f"sitewatch-{facts['site_id']}-{period}-{first.isoformat()}.xlsx"
        data = report_xlsx(rep, lang, label)
        text = "\n".join([*lines, "", say(lang, "mail")])
        return Message(key, row.payload["title"], text, items, (Attachment(name, XLSX, data),))
    url = report_link(settings, facts["site_id"], period, first, lang)
    return Message(
        key, row.payload["title"], "\n".join([*lines, say(lang, "link", url=url)]), items
    )

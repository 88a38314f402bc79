"""What a notification says, in zh-CN or en: one line per alert, a title, a digest.

Rule names come from the console page's own language files (``static/lang/*.json``, keys
``rule.<name>``), so the page and the messages name a rule alike. Times are shown in the
site's zone (``Site.timezone``; UTC when the edge has not said).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

LANG_DIR: Final = Path(__file__).resolve().parent.parent / "static" / "lang"

TEXTS: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "title": "[SiteWatch] {rule} · {site} / {camera}",
        "escalated": "【升级至第 {level} 级】超过 {minutes} 分钟未确认:",
        "line": "{time} {site} / {camera} {rule}(置信度 {score:.2f})",
        "digest": "[SiteWatch] {count} 条通知",
        "more": "另有 {count} 条将随后发送",
        "incident": "(同一事件共 {count} 条告警)",
        "more_in_incident": "{site} / {camera} {rule}: 同一事件又有 {count} 条告警(共 {total} 条)",
        "test_title": "[SiteWatch] 测试消息",
        "test_text": "这是通知对象“{name}”的测试消息。发送人: {user}",
    },
    "en": {
        "title": "[SiteWatch] {rule} · {site} / {camera}",
        "escalated": "[Escalated to level {level}] not acknowledged for {minutes} min: ",
        "line": "{time} {site} / {camera} {rule} (score {score:.2f})",
        "digest": "[SiteWatch] {count} notifications",
        "more": "{count} more follow",
        "incident": " (one incident of {count} alerts)",
        "more_in_incident": "{site} / {camera} {rule}: {count} more alerts in the incident "
        "({total} in all)",
        "test_title": "[SiteWatch] test message",
        "test_text": "A test message of the route {name!r}, sent by {user}.",
    },
}


@cache
def rule_names(language: str) -> dict[str, str]:
    """``{rule: display name}`` from the page's language file; empty if it has none."""
    path = LANG_DIR / f"{language}.json"
    if not path.is_file():
        return {}
    words: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {k.removeprefix("rule."): str(v) for k, v in words.items() if k.startswith("rule.")}


def text(language: str, key: str, **values: Any) -> str:
    words = TEXTS.get(language, TEXTS["en"])
    return words[key].format(**values)


def alert_payload(
    *,
    language: str,
    level: int,
    escalate_after_min: float,
    alert: dict[str, Any],
    site_name: str,
    camera_name: str,
    timezone: str | None,
) -> dict[str, Any]:
    """The stored payload of one notification: ``title``, ``line`` and the alert's facts
    (``alert``: id, site, camera, rule, score, started_at ISO 8601, level, incident_id and
    ``alerts``, how many alerts its incident holds; the line says so when more than one)."""
    rule = rule_names(language).get(alert["rule"], alert["rule"])
    started: datetime = alert["started_at"]
    local = started.astimezone(ZoneInfo(timezone or "UTC"))
    values = {"rule": rule, "site": site_name, "camera": camera_name, "score": alert["score"]}
    line = text(language, "line", time=local.strftime("%m-%d %H:%M:%S"), **values)
    if alert.get("alerts", 1) > 1:
        line += text(language, "incident", count=alert["alerts"])
    if level > 1:
        line = text(language, "escalated", level=level, minutes=f"{escalate_after_min:g}") + line
    facts = {
        **{k: alert[k] for k in ("id", "site_id", "camera_id", "rule", "score")},
        "incident_id": alert.get("incident_id"),
        "alerts": alert.get("alerts", 1),
        "started_at": started.isoformat(),
        "level": level,
    }
    return {"title": text(language, "title", **values), "line": line, "alert": facts}


def digest_title(language: str, count: int) -> str:
    return text(language, "digest", count=count)

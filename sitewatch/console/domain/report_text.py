"""The words of the printed reports, in English and Chinese, from one table.

Words the console's pages already show (rules, states, site, camera, zone, alert id, SHA-256)
come from the pages' own lang files (``static/lang/{en,zh-CN}.json``), so a report says what
the page says. Words only the reports use live in :data:`REPORT_TEXT` below: the server renders
them into files, the browser never needs them, and each language lists the same keys
(tests/component/test_reports.py checks it).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final, Literal

Lang = Literal["en", "zh-CN"]
LANG_DIR: Final = Path(__file__).resolve().parents[1] / "static" / "lang"

REPORT_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "report.title_day": "Daily safety report",
        "report.title_week": "Weekly safety report",
        "report.all_sites": "All sites",
        "report.period": "Period",
        "report.generated": "Generated",
        "report.sites": "Sites",
        "report.timezone_note": "Days and hours are each site's local time.",
        "report.total": "Violations",
        "report.by_camera": "Violations per camera",
        "report.by_rule": "Violations per rule",
        "report.by_hour": "Violations per hour of day (site's local time)",
        "report.by_day": "Violations per day",
        "report.by_state": "Alerts by state now",
        "report.hour": "Hour",
        "report.day": "Day",
        "report.count": "Count",
        "report.response": "Response times",
        "report.ack": "Time to acknowledge",
        "report.close": "Time to resolve (resolved or false positive)",
        "report.steps": "Alerts",
        "report.median": "Median",
        "report.p90": "90th percentile",
        "report.minutes": "{n} min",
        "report.overdue": "Overdue: not acknowledged within {n} min",
        "report.waited": "Waited (min)",
        "report.acknowledged_late": "acknowledged late",
        "report.not_acknowledged": "not acknowledged",
        "report.offline": "Cameras offline or stalled (at the time of the report)",
        "report.last_status": "Last status",
        "report.error": "Error",
        "report.none": "None.",
        "report.more": "… and {n} more: see the xlsx report.",
        "report.state": "State",
        "report.summary": "Summary",
        "report.incidents": "Incidents (repeats grouped)",
        "report.overdue_incidents": "Overdue incidents",
        "report.range": "{first} to {last}",
        "report.seconds": "{name} (s)",
        "report.camera_id": "Camera id",
        "report.camera_name": "Camera name",
        "report.rule_id": "Rule id",
        "evidence_report.title": "Violation evidence report",
        "evidence_report.snapshot": "Snapshot with the detection box",
        "evidence_report.crop": "The person, enlarged",
        "evidence_report.no_snapshot": "No stored snapshot for this alert.",
        "evidence_report.files": "Evidence files; stored ones checked against their SHA-256 now",
        "evidence_report.missing": "missing on disk",
        "evidence_report.printed": "Made by {user} at {time}; verify files with their SHA-256.",
        "evidence_report.times": "Times in {tz}.",
        "evidence_report.score": "Score",
        "evidence_report.started": "Started",
        "evidence_report.ended": "Ended",
        "evidence_report.state": "State",
    },
    "zh-CN": {
        "report.title_day": "安全日报",
        "report.title_week": "安全周报",
        "report.all_sites": "全部工地",
        "report.period": "统计时段",
        "report.generated": "生成时间",
        "report.sites": "工地",
        "report.timezone_note": "日期和小时均按各工地当地时间。",
        "report.total": "违规次数",
        "report.by_camera": "按摄像头统计违规",
        "report.by_rule": "按违规类型统计",
        "report.by_hour": "按小时统计违规（工地当地时间）",
        "report.by_day": "按日统计违规",
        "report.by_state": "告警当前状态",
        "report.hour": "小时",
        "report.day": "日期",
        "report.count": "次数",
        "report.response": "响应时间",
        "report.ack": "确认用时",
        "report.close": "处理用时（已处理或误报）",
        "report.steps": "告警数",
        "report.median": "中位数",
        "report.p90": "90% 分位",
        "report.minutes": "{n} 分钟",
        "report.overdue": "超时：{n} 分钟内未确认",
        "report.waited": "等待（分钟）",
        "report.acknowledged_late": "超时后确认",
        "report.not_acknowledged": "未确认",
        "report.offline": "离线或无画面的摄像头（报告生成时）",
        "report.last_status": "最后状态时间",
        "report.error": "错误",
        "report.none": "无。",
        "report.more": "……另有 {n} 条，见 xlsx 报表。",
        "report.state": "状态",
        "report.summary": "概况",
        "report.incidents": "事件数（重复告警合并）",
        "report.overdue_incidents": "超时事件数",
        "report.range": "{first} 至 {last}",
        "report.seconds": "{name}（秒）",
        "report.camera_id": "摄像头编号",
        "report.camera_name": "摄像头名称",
        "report.rule_id": "规则编号",
        "evidence_report.title": "违规证据报告",
        "evidence_report.snapshot": "抓拍图（含检测框）",
        "evidence_report.crop": "违规人员放大图",
        "evidence_report.no_snapshot": "此告警没有已存储的抓拍图。",
        "evidence_report.files": "证据文件；已存储的文件在生成本报告时已核验 SHA-256",
        "evidence_report.missing": "磁盘上缺失",
        "evidence_report.printed": "由 {user} 于 {time} 生成；请用 SHA-256 核验文件。",
        "evidence_report.times": "时间均按 {tz}。",
        "evidence_report.score": "置信度",
        "evidence_report.started": "开始时间",
        "evidence_report.ended": "结束时间",
        "evidence_report.state": "状态",
    },
}


@cache
def _page_text(lang: Lang) -> dict[str, str]:
    path = LANG_DIR / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of key: text, got {type(data).__name__}")
    return {str(k): str(v) for k, v in data.items()}


def text(lang: Lang, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` placeholders filled; KeyError (naming
    the key and where it is looked up) for a key in neither table."""
    table = REPORT_TEXT[lang] if key.startswith(("report.", "evidence_report.")) else None
    found = table.get(key) if table is not None else _page_text(lang).get(key)
    if found is None:
        raise KeyError(
            f"no text {key!r} in {lang}: report words are in report_text.REPORT_TEXT, page "
            f"words in {LANG_DIR / (lang + '.json')}; add it to both languages"
        )
    for name, value in values.items():
        found = found.replace("{" + name + "}", str(value))
    return found


def word(lang: Lang, kind: str, value: str) -> str:
    """A shared word as the pages show it (``kind`` ``rule``, ``state``, ``camera_state``);
    a value the pages do not know as itself."""
    try:
        return text(lang, f"{kind}.{value}")
    except KeyError:
        return value

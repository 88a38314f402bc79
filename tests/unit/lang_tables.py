"""The console page's language files (static/lang/<language>.json), read as tables (no services)."""

from __future__ import annotations

import json
from pathlib import Path

LANG = Path(__file__).resolve().parents[2] / "sitewatch" / "console" / "static" / "lang"


def lang_table(language: str) -> dict[str, str]:
    """Key -> text of one language file (e.g. "en", "zh-CN")."""
    table: dict[str, str] = json.loads((LANG / f"{language}.json").read_text(encoding="utf-8"))
    return table


def missing_keys(language: str, keys: list[str]) -> list[str]:
    """Those of ``keys`` that the language file lacks."""
    table = lang_table(language)
    return [k for k in keys if k not in table]

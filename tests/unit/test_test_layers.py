"""The unit layer stays a unit layer: no test in tests/unit imports a service helper from
tests.support, or a socket, HTTP, database or MQTT client (those belong in component/ or e2e/;
paho's pure topic matching is allowed)."""

from __future__ import annotations

import ast
from pathlib import Path

UNIT = Path(__file__).resolve().parent
SERVICES = ("tests.support", "socket", "httpx", "playwright", "psycopg", "sitewatch.mqtt")


def imported(path: Path) -> set[str]:
    """Every module a file imports, top-level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def offenders(folder: Path) -> list[str]:
    return sorted(
        f"{path.name} imports {name}"
        for path in folder.glob("test_*.py")
        for name in imported(path)
        if any(name == s or name.startswith(s + ".") for s in SERVICES)
    )


def test_unit_tests_use_no_services() -> None:
    assert offenders(UNIT) == [], "move these to tests/component or tests/e2e"


def test_the_rule_sees_a_service_import(tmp_path: Path) -> None:
    inside = "def f():\n    from tests.support.mqtt_broker import broker\n"
    (tmp_path / "test_x.py").write_text(inside)
    (tmp_path / "test_y.py").write_text("import socket\n")
    assert offenders(tmp_path) == [
        "test_x.py imports tests.support.mqtt_broker",
        "test_y.py imports socket",
    ]

"""The console's JavaScript is checked: tsc (strict, JSDoc types; ``tools/js``) finds no error,
every script opts in with ``// @ts-check``, and the folders import only downwards: core and
generated import no widget or view, widgets no view, and no view imports another view."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "sitewatch" / "console" / "static" / "js"
TOOLS = REPO / "tools" / "js"
TSC = TOOLS / "node_modules" / ".bin" / "tsc"

# folder -> the folders its scripts may import from ("" is js/ itself: app.js, the entry)
MAY_IMPORT: dict[str, set[str]] = {
    "": {"core", "generated", "widgets", "views"},
    "core": {"core", "generated"},
    "generated": set(),
    "widgets": {"core", "generated", "widgets"},
    "views": {"core", "generated", "widgets"},
}
# `import ... from "x"`, `export ... from "x"`, `import "x"` and JSDoc's `import("x")` (types)
IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']"""
    r"""|^\s*import\s*["']([^"']+)["']"""
    r"""|\bimport\(\s*["']([^"']+)["']\s*\)""",
    re.M,
)


def _folder(path: Path) -> str:
    parts = path.relative_to(JS).parts
    return parts[0] if len(parts) > 1 else ""


def _offences(scripts: dict[Path, str]) -> list[str]:
    """Imports that leave js/, name no script, or reach a folder their own may not."""
    found = []
    for path, text in sorted(scripts.items()):
        own = _folder(path)
        for spec in ("".join(groups) for groups in IMPORT.findall(text)):
            where = f"{path.relative_to(JS)} imports {spec!r}"
            if not spec.startswith("."):
                found.append(f"{where}: only relative imports (no bundler, no package names)")
                continue
            target = Path(os.path.normpath(path.parent / spec))
            if not target.is_relative_to(JS) or target not in scripts:
                found.append(f"{where}: no such script under static/js")
                continue
            if _folder(target) not in MAY_IMPORT[own]:
                allowed = ", ".join(sorted(MAY_IMPORT[own])) or "nothing"
                found.append(f"{where}: js/{own or '.'} may import from {allowed}")
    return found


def _scripts() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(JS.rglob("*.js"))}


def test_scripts_import_only_downwards() -> None:
    offences = _offences(_scripts())
    assert offences == [], "move what two views share into widgets/ or core/: " + "; ".join(
        offences
    )


def test_the_import_rule_catches_each_kind_of_offence() -> None:
    scripts = {
        JS / "views" / "a.js": 'import { b } from "./b.js";\n',
        JS / "views" / "b.js": '/** @param {import("../core/x.js").T} t */\nexport const b = 1;\n',
        JS / "core" / "x.js": 'import { w } from "../widgets/w.js";\n',
        JS / "widgets" / "w.js": 'import _ from "lodash";\nimport { y } from "../core/y.js";\n',
    }
    assert [o.split(":")[0] for o in _offences(scripts)] == [
        "core/x.js imports '../widgets/w.js'",  # upwards
        "views/a.js imports './b.js'",  # a view importing a view
        "widgets/w.js imports 'lodash'",  # not relative
        "widgets/w.js imports '../core/y.js'",  # no such script
    ]


def test_every_script_opts_in_to_the_checker() -> None:
    missing = [
        str(path.relative_to(JS))
        for path, text in _scripts().items()
        if text.splitlines()[:1] != ["// @ts-check"]
    ]
    assert missing == [], f"scripts whose first line is not `// @ts-check`: {missing}"


def _tsc() -> Path:
    """tools/js's pinned tsc, installed with `npm ci` (as `make jscheck` does) when missing."""
    if TSC.exists():
        return TSC
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip(
            "node and npm are not installed: `make jscheck` installs Debian's nodejs and npm "
            "where no npm is, then tools/js's pinned TypeScript"
        )
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"`npm ci` in {TOOLS} failed (it needs the npm registry once): "
        f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    return TSC


def _run_tsc(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tsc()), "-p", str(project), "--pretty", "false"],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tsc_finds_no_error_in_the_console_scripts() -> None:
    done = _run_tsc(TOOLS / "tsconfig.json")
    assert done.returncode == 0, (
        "tsc (tools/js/tsconfig.json: strict, checkJs) found errors in the console's scripts; "
        "fix them or give the JSDoc type they need:\n" + done.stdout[-8000:] + done.stderr
    )


def test_tsc_with_that_config_catches_a_type_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.js"
    bad.write_text(
        "// @ts-check\n/** @param {string} s */\nexport function f(s) {\n"
        "  return s.size;\n}\nexport const g = (x) => x;\n",
        encoding="utf-8",
    )
    config = tmp_path / "tsconfig.json"
    config.write_text(
        json.dumps({"extends": str(TOOLS / "tsconfig.json"), "include": [str(bad)]}),
        encoding="utf-8",
    )
    done = _run_tsc(config)
    assert done.returncode != 0
    assert "TS2339" in done.stdout, done.stdout  # size does not exist on type "string"
    assert "TS7006" in done.stdout, done.stdout  # 'x' implicitly has an 'any' type (strict)

"""The package's floor plan: which wing may import which, and no import cycles.

The wing rules are import-linter contracts in pyproject.toml (``[tool.importlinter]``), run
here with ``lint-imports``; each wing's ``__init__.py`` says the same in one line. Cycles are
found on grimp's graph of the same package (import-linter's own engine).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
WINGS = ("core", "contract", "edge", "console", "tools")


def test_wings_import_only_what_they_may() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run(
        [exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_http_errors_are_raised_only_by_routes_and_deps() -> None:
    """The console's other modules raise its domain errors (sitewatch/console/domain/errors.py),
    which ``create_app`` maps to HTTP in one place (api/errors.py: the handlers, and the coded
    ``HTTPException`` that routes and deps raise)."""
    console = REPO / "sitewatch" / "console"
    api = console / "api"
    allowed = {api / "deps.py", api / "errors.py", *(api / "routes").glob("*.py")}
    raising = sorted(
        str(path.relative_to(REPO))
        for path in console.rglob("*.py")
        if path not in allowed and _names_http_exception(path)
    )
    assert raising == [], f"HTTPException outside routes/ and deps.py: {raising}"


def _names_http_exception(path: Path) -> bool:
    """Whether the module's code (not its text) names ``HTTPException``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id == "HTTPException":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "HTTPException":
            return True
        if isinstance(node, ast.alias) and node.name.endswith("HTTPException"):
            return True
    return False


def test_sitewatch_is_the_only_package() -> None:
    assert [name for name in ("edge", "server", "contract") if (REPO / name).exists()] == []
    assert all((REPO / "sitewatch" / wing / "__init__.py").is_file() for wing in WINGS)


def test_no_import_cycles_between_modules() -> None:
    """Every import counts, those under ``TYPE_CHECKING`` too: a cycle hidden there is still a
    cycle of design (issue 13 cut three: config schema/checks, evidence files/index,
    worker/housekeeping). No cache: grimp's is shared between settings and can be stale."""
    graph = grimp.build_graph("sitewatch", exclude_type_checking_imports=False, cache_dir=None)
    cycles = _cycles({m: graph.find_modules_directly_imported_by(m) for m in graph.modules})
    assert cycles == [], f"import cycles: {cycles}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, set()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_command_imports_only_the_chosen_wing() -> None:
    code = (
        "import sys, sitewatch.cli\n"
        "try:\n"
        "    sitewatch.cli.main(['verify', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('sitewatch.')}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # core (geometry, under the contract's zone check) is the shared base, not a wing
    assert done.stdout.strip().splitlines()[-1] == "['cli', 'console', 'contract', 'core']"


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sitewatch.cli", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sitewatch "), done.stdout


def test_default_model_is_the_variables_else_the_checkouts(tmp_path: Path) -> None:
    code = "from sitewatch.edge.detect.detector import DEFAULT_MODEL; print(DEFAULT_MODEL)"
    env = {k: v for k, v in os.environ.items() if k != "SITEWATCH_MODEL"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert found.stdout.strip() == str(REPO / "models" / "sitewatch.onnx"), found.stderr
    env["SITEWATCH_MODEL"] = str(tmp_path / "other.onnx")
    named = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert named.stdout.strip() == str(tmp_path / "other.onnx"), named.stderr

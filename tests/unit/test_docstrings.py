"""Docstrings stay short and carry no lab notebook; field descriptions carry no benchmarks.

A module docstring says what the module does, its invariants and units, in at most
:data:`MAX_MODULE_DOC_LINES` lines; a measured figure lives in ``bench/RESULTS.md`` (or the
model card, ``models/README.md``) and is cited by its heading, rationale that needs more lives
in ``docs/design/``. Every such citation, in a docstring or a design note, must name a heading
or a note that exists. Field descriptions of the edge config, the console's settings and the
MQTT contract are read by operators: no measured figure (ms, %, fps, x) in them. Pure: source
text and pydantic schemas, no services.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "sitewatch"
CITING = [PACKAGE, REPO / "bench", REPO / "training"]
MAX_MODULE_DOC_LINES = 15
"""Longest module docstring, in lines (cleaned, as ``ast.get_docstring`` gives it)."""

FIGURE = re.compile(
    r"\d(?:[\d.,]*\d)?\s*(?:ms\b|%|fps\b|\u00d7|x\b)"  # 40 ms, 37 %, 2 fps, 2.3x, 1.5 times
    r"|\bmeasured\b(?!\s+(?:from|since)\b)"  # not "seconds measured from ..."
    r"|\bAP50\s*(?:of\s*)?\d",
    re.IGNORECASE,
)
"""A measured figure in a field description: a number with ms, %, fps or a times sign, the
word "measured" (a justification by measurement belongs in bench/RESULTS.md) or an AP50."""

CITATION = re.compile(r'(bench/RESULTS\.md|models/README\.md)[,:;]?((?:\s*,?\s*"[^"]+")+)')
"""``bench/RESULTS.md, "Section", "Subsection"``: a file, then one or more quoted headings."""
DESIGN_NOTE = re.compile(r"docs/design/[\w.-]+\.md")


def python_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def docstrings(path: Path) -> Iterator[tuple[int, str]]:
    """Every docstring of ``path`` with its line number: module, class and function ones, and
    the strings that document a constant or field (a string statement after an assignment)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            yield node.lineno, node.value.value


def headings(markdown: Path) -> list[str]:
    lines = markdown.read_text(encoding="utf-8").splitlines()
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def cited_headings(text: str) -> Iterator[tuple[str, str]]:
    """``(file, heading)`` for each heading a docstring cites, whitespace folded."""
    flat = " ".join(text.split())
    for match in CITATION.finditer(flat):
        for heading in re.findall(r'"([^"]+)"', match.group(2)):
            yield match.group(1), heading


def descriptions(schema: Any) -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every ``description`` in a JSON Schema, nested ones too."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                yield where or "(root)", node["description"]
            stack += [(f"{where}/{key}", value) for key, value in node.items()]
        elif isinstance(node, list):
            stack += [(f"{where}/{i}", value) for i, value in enumerate(node)]


def operator_models() -> list[type[BaseModel]]:
    """The models whose field descriptions operators read: edge config, console settings,
    and every message of the contract."""
    from sitewatch.console.settings import Settings
    from sitewatch.contract.messages import MESSAGES
    from sitewatch.edge.config.schema import SiteConfig

    return [SiteConfig, Settings, *MESSAGES]


def test_module_docstrings_are_short() -> None:
    long = []
    for path in python_files([PACKAGE]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        text = ast.get_docstring(tree) or ""
        if len(text.splitlines()) > MAX_MODULE_DOC_LINES:
            long.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
    assert not long, (
        f"expected module docstrings of at most {MAX_MODULE_DOC_LINES} lines (what the module "
        f"does, its invariants and units), got: {long}; move the rationale to "
        "docs/design/<topic>.md and measured figures to bench/RESULTS.md, and cite them"
    )


@pytest.mark.parametrize("model", operator_models(), ids=lambda m: m.__name__)
def test_field_descriptions_carry_no_measured_figures(model: type[BaseModel]) -> None:
    found = [
        f"{where}: {figure.group(0)!r} in {text!r}"
        for where, text in descriptions(model.model_json_schema())
        if (figure := FIGURE.search(text))
    ]
    assert not found, (
        f"expected {model.__name__}'s descriptions without measured figures (ms, %, fps, x), "
        f"got: {found}; keep the default as a value, cite the measurement by its heading in "
        "bench/RESULTS.md in the code's docstring, not in what operators read"
    )


def test_cited_headings_and_design_notes_exist() -> None:
    known = {
        "bench/RESULTS.md": headings(REPO / "bench" / "RESULTS.md"),
        "models/README.md": headings(REPO / "models" / "README.md"),
    }
    texts = [
        (f"{path.relative_to(REPO)}:{line}", text)
        for path in python_files(CITING)
        for line, text in docstrings(path)
    ]
    texts += [
        (str(note.relative_to(REPO)), note.read_text(encoding="utf-8"))
        for note in sorted((REPO / "docs" / "design").glob("*.md"))
    ]
    assert texts, "expected docstrings and design notes to read, found none"
    missing = []
    for where, text in texts:
        for file, heading in cited_headings(text):
            if not any(h.startswith(heading) for h in known[file]):
                missing.append(f"{where}: {file}, {heading!r}")
        for note in DESIGN_NOTE.findall(text):
            if not (REPO / note).is_file():
                missing.append(f"{where}: {note}")
    assert not missing, (
        "expected every heading a docstring or design note cites to be a heading of its file "
        f"and every docs/design note to exist, got: {missing}; fix the citation or add the "
        "section"
    )


def test_the_figure_pattern_catches_what_it_is_for() -> None:
    caught = [
        "38 % less padding",
        "2.3x the time",
        "1.5\u00d7 as fast",
        "40 ms",
        "2 fps",
        "measured",
    ]
    passed = [
        "416x256 input",
        "default 1 MiB",
        "input_size 416",
        "0..1 of the frame height",
        "seconds measured from the frame's capture",
    ]
    assert [bool(FIGURE.search(t)) for t in caught] == [True] * len(caught)
    assert [bool(FIGURE.search(t)) for t in passed] == [False] * len(passed)

"""One vocabulary: the browser's ``generated/enums.js`` is written from the Python words and
kept up to date, no view keeps its own copy, and every word has its text in every language."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sitewatch.console import enums_js, workflow
from sitewatch.console.domain.broker_accounts import BrokerAccountError, edge_username
from sitewatch.console.ids import TopicError, check_id
from sitewatch.contract import vocabulary

STATIC = Path(enums_js.__file__).resolve().parent / "static"
JS = STATIC / "js"

PYTHON_WORDS: dict[str, object] = {
    "ALERT_STATES": list(workflow.ALERT_STATES),
    "OPEN_STATES": list(workflow.OPEN_STATES),
    "CLOSED_STATES": list(workflow.CLOSED_STATES),
    "ACTIONS": list(workflow.ACTIONS),
    "TRANSITIONS": workflow.TRANSITIONS,
    "RULES": list(vocabulary.RULE_NAMES),
    "ZONE_KINDS": list(vocabulary.ZONE_KINDS),
    "LABELS": list(vocabulary.LABELS),
    "EVIDENCE_KINDS": list(vocabulary.EVIDENCE_KINDS),
    "ID_PATTERN": vocabulary.ID_PATTERN,
}


def test_enums_js_is_up_to_date() -> None:
    assert not enums_js.stale(), (
        f"{enums_js.OUT} differs from the Python words: run `{enums_js.COMMAND}` and commit it"
    )


def test_stale_check_notices_changes(tmp_path: Path) -> None:
    out = tmp_path / "enums.js"
    assert enums_js.stale(out)  # missing
    assert enums_js.main(["--out", str(out), "--check"]) == 1
    assert enums_js.main(["--out", str(out)]) == 0
    assert not enums_js.stale(out)
    assert enums_js.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace('"smoking"', '"vaping"'))
    assert enums_js.stale(out)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the module")
def test_the_browser_reads_the_python_words(tmp_path: Path) -> None:
    """Node imports the module as the browser does and gets the same values, frozen."""
    script = (
        f"import * as e from {json.dumps(enums_js.OUT.as_uri())};\n"
        "const re = new RegExp(e.ID_PATTERN);\n"
        "const frozen = Object.values(e)"
        ".every((v) => typeof v === 'string' || Object.isFrozen(v));\n"
        "const ids = ['north', 'gate-2', 'a_b'].map((s) => re.test(s));\n"
        "const bad = ['North', '-x', 'a/b', 'x'.repeat(41)].map((s) => re.test(s));\n"
        "console.log(JSON.stringify({ words: e, frozen, ids, bad }));\n"
    )
    (tmp_path / "read.mjs").write_text(script)
    done = subprocess.run(
        ["node", str(tmp_path / "read.mjs")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["words"] == json.loads(json.dumps(PYTHON_WORDS))
    assert got["frozen"] is True
    assert (got["ids"], got["bad"]) == ([True] * 3, [False] * 4)


def test_a_pattern_javascript_reads_otherwise_is_refused() -> None:
    with pytest.raises(ValueError, match=r"uses '\(\?'.*classes, anchors and quantifiers"):
        enums_js._js_pattern(r"^(?i)[a-z]+$")
    assert enums_js._js_pattern(vocabulary.ID_PATTERN) == json.dumps(vocabulary.ID_PATTERN)


def test_the_workflow_words_agree_with_its_table() -> None:
    assert tuple(workflow.TRANSITIONS) == workflow.ALERT_STATES
    assert set(workflow.OPEN_STATES) | set(workflow.CLOSED_STATES) == set(workflow.ALERT_STATES)
    assert not set(workflow.OPEN_STATES) & set(workflow.CLOSED_STATES)
    for steps in workflow.TRANSITIONS.values():
        assert set(steps) <= set(workflow.ACTIONS) - {"note"}
        assert set(steps.values()) <= set(workflow.ALERT_STATES)
    used = {a for steps in workflow.TRANSITIONS.values() for a in steps}
    assert used | {"note"} == set(workflow.ACTIONS)


def _copies() -> dict[str, str]:
    """Text that betrays a copied list: the first two words of each, as JS would write them."""
    found = {}
    for name, words in PYTHON_WORDS.items():
        if isinstance(words, list) and len(words) > 1:
            found[name] = f"{json.dumps(words[0])}, {json.dumps(words[1])}"
    found["ID_PATTERN"] = "[a-z0-9_-]{0,39}"
    return found


def test_no_script_keeps_its_own_copy_of_a_list() -> None:
    copies = _copies()
    offenders = [
        f"{path.relative_to(JS)} copies {name} ({text})"
        for path in sorted(JS.rglob("*.js"))
        if path != enums_js.OUT
        for name, text in copies.items()
        if text in path.read_text(encoding="utf-8")
    ]
    assert offenders == [], "import them from ./generated/enums.js instead: " + "; ".join(offenders)


def test_the_copy_finder_finds_a_copy() -> None:
    copied = 'export const KINDS = ["helmet_required", "no_smoking", "smoking_area", "mask"];'
    assert [name for name, text in _copies().items() if text in copied] == ["ZONE_KINDS"]


@pytest.mark.parametrize("language", sorted(p.stem for p in (STATIC / "lang").glob("*.json")))
def test_every_word_has_its_text(language: str) -> None:
    texts = json.loads((STATIC / "lang" / f"{language}.json").read_text(encoding="utf-8"))
    groups = {
        "state": workflow.ALERT_STATES,
        "action": workflow.ACTIONS,
        "rule": vocabulary.RULE_NAMES,
        "kind": vocabulary.ZONE_KINDS + vocabulary.EVIDENCE_KINDS,
        "label": vocabulary.LABELS,
    }
    missing = [f"{g}.{w}" for g, words in groups.items() for w in words if f"{g}.{w}" not in texts]
    assert missing == [], f"add to static/lang/{language}.json: {', '.join(missing)}"


@pytest.mark.parametrize("text", ["s1\n", "S1", "", "-s1", "a" * 41, "s1/x"])
def test_ids_are_whole_matches(text: str) -> None:
    """Python's ``$`` also matches before a final newline: ids are checked with fullmatch."""
    assert vocabulary.ID_RE.fullmatch(text) is None
    with pytest.raises(TopicError, match="must match"):
        check_id(text, "site id")
    with pytest.raises(BrokerAccountError, match="expected a site id"):
        edge_username(text)
    assert edge_username("s1") == "edge-s1"
    assert check_id("gate-2", "camera id") == "gate-2"


def test_the_header_says_how_to_regenerate() -> None:
    check, *head = enums_js.render().splitlines()[:4]
    assert check == "// @ts-check"  # tools/js's tsc checks it with the other scripts
    assert re.search(r"Generated by `python -m sitewatch\.console\.enums_js`", head[0])
    assert "do not edit" in head[1]

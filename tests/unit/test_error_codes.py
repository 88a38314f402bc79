"""Error codes: every code the console can send has an English and a Chinese text, with the
placeholders its params fill; every code raised in the source is registered; FastAPI's
validation problems and the workflow's refusals get their codes (literal data, no services)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sitewatch.console.api.errors import code_of, refuse, validation_code
from sitewatch.console.domain.errors import Conflict, NotFound
from sitewatch.console.error_codes import CODES, known
from sitewatch.console.workflow import InvalidTransition, MissingInput
from tests.unit.lang_tables import lang_table, missing_keys

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "sitewatch" / "console"
LANG = CONSOLE / "static" / "lang"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Latin letters a Chinese error text may keep: product and protocol names
LATIN_ALLOWED = {"MQTT", "JSON", "PDF", "xlsx", "SiteWatch", "RTSP"}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_code_has_a_text(language: str) -> None:
    missing = missing_keys(language, [f"error.{c}" for c in CODES])
    assert missing == [], f"add to static/lang/{language}.json: {', '.join(missing)}"


def test_the_english_texts_are_the_registry_s() -> None:
    en = lang_table("en")
    differ = [c for c, text in CODES.items() if en[f"error.{c}"] != text]
    assert differ == [], f"en.json error.<code> differs from error_codes.CODES: {differ}"


def test_chinese_texts_fill_only_params_the_code_has_and_keep_no_english() -> None:
    """A zh-CN text may leave out a param (one whose value is English prose) but never use
    one the server does not send; outside placeholders it has no Latin words but product
    names (LATIN_ALLOWED)."""
    zh = lang_table("zh-CN")
    for code, english in CODES.items():
        text = zh[f"error.{code}"]
        extra = set(PLACEHOLDER.findall(text)) - set(PLACEHOLDER.findall(english))
        assert not extra, f"error.{code} zh-CN uses {extra}, not params of {english!r}"
        words = set(re.findall(r"[A-Za-z][A-Za-z-]*", PLACEHOLDER.sub("", text)))
        assert words <= LATIN_ALLOWED, f"error.{code} zh-CN keeps English {words}: {text!r}"
        assert re.search(r"[\u4e00-\u9fff]", text), f"error.{code} zh-CN has no Chinese: {text!r}"


def _raised_codes() -> list[tuple[str, str]]:
    """(file, code) of every literal code in the console's source: ``code="..."`` keywords
    and the second argument of ``refuse(status, "code", ...)``."""
    found = []
    for path in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            args = [k.value for k in node.keywords if k.arg == "code"]
            if name == "refuse" and len(node.args) >= 2:
                args.append(node.args[1])
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((str(path.relative_to(REPO)), arg.value))
    return found


def test_every_code_raised_is_registered() -> None:
    raised = _raised_codes()
    assert len(raised) > 30, "the scan finds the raise sites (code= and refuse(...))"
    unknown = [(f, c) for f, c in raised if c not in CODES]
    assert unknown == [], f"add to sitewatch/console/error_codes.py CODES: {unknown}"


def test_an_unknown_code_is_refused_saying_where_to_add_it() -> None:
    with pytest.raises(ValueError, match=r"error_codes\.py"):
        known("alert.exploded")
    with pytest.raises(ValueError, match="unknown error code"):
        NotFound("no such thing", code="no.such.code")
    with pytest.raises(ValueError):
        refuse(404, "no.such.code", "no such thing")


def test_domain_errors_carry_their_kind_s_code_or_their_own() -> None:
    assert code_of(Conflict("x")) == ("conflict", {})
    error = NotFound("no alert 'a1'", code="alert.not_found", params={"alert": "a1"})
    assert (code_of(error), str(error)) == (("alert.not_found", {"alert": "a1"}), "no alert 'a1'")
    assert refuse(404, "scope.no_site", "no site 'x'", site="x").params == {"site": "x"}


def test_a_step_the_workflow_refuses_names_the_state_action_and_allowed_steps() -> None:
    code, params = code_of(InvalidTransition("resolved", "acknowledge"))
    assert code == "workflow.step_not_allowed"
    assert params["state"] == "resolved"
    assert params["action"] == "acknowledge"
    assert "reopen" in str(params["allowed"]).split(", ")
    assert code_of(MissingInput("'assign' needs an assignee")) == ("workflow.missing_input", {})


@pytest.mark.parametrize(
    ("error", "code", "params"),
    [
        (
            {"type": "missing", "loc": ["body", "password"], "msg": "Field required"},
            "validation.missing",
            {"field": "password"},
        ),
        (
            {"type": "int_parsing", "loc": ["query", "limit"], "input": "ten", "msg": "x"},
            "validation.type",
            {"field": "limit", "expected": "integer", "got": "ten"},
        ),
        (
            {
                "type": "string_too_long",
                "loc": ["body", "name"],
                "input": "x" * 90,
                "ctx": {"max_length": 80},
                "msg": "x",
            },
            "validation.too_long",
            {"field": "name", "limit": 80},
        ),
        (
            {
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "input": 5000,
                "ctx": {"le": 1000},
                "msg": "x",
            },
            "validation.range",
            {"field": "limit", "limit": "≤ 1000", "got": 5000},
        ),
        (
            {
                "type": "literal_error",
                "loc": ["body", "role"],
                "input": "boss",
                "ctx": {"expected": "'admin', 'manager'"},
                "msg": "x",
            },
            "validation.choice",
            {"field": "role", "expected": "'admin', 'manager'", "got": "boss"},
        ),
        (
            {"type": "json_invalid", "loc": ["body", 3], "input": {}, "msg": "x"},
            "validation.json",
            {},
        ),
        (
            {"type": "value_error", "loc": ["body", "zones", 0], "input": 7, "msg": "x"},
            "validation.invalid",
            {"field": "zones.0", "got": 7},
        ),
    ],
)
def test_validation_problems_get_a_code_and_params(
    error: dict[str, object], code: str, params: dict[str, object]
) -> None:
    got_code, got_params = validation_code(error)
    assert got_code == code
    assert got_code in CODES
    assert {k: got_params[k] for k in params} == params
    assert set(PLACEHOLDER.findall(CODES[code])) <= set(got_params)


def _audit_keys() -> set[str]:
    """The detail keys the console's audit rows can carry: literal ``key=`` of audit.record
    calls, and those made from a word (failed logins, report periods)."""
    keys = {f"login_{why}" for why in ("unknown_user", "wrong_password", "disabled", "paused")}
    keys |= {"report_day", "report_week"}
    for path in CONSOLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "record":
                for k in node.keywords:
                    if k.arg == "key" and isinstance(k.value, ast.IfExp):
                        keys |= {
                            v.value
                            for v in (k.value.body, k.value.orelse)
                            if isinstance(v, ast.Constant) and isinstance(v.value, str)
                        }
                    elif k.arg == "key" and isinstance(k.value, ast.Constant):
                        keys.add(str(k.value.value))
    return keys


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_audit_detail_key_has_a_text(language: str) -> None:
    keys = _audit_keys()
    assert {"step", "site_rename", "export_zip", "config_request"} <= keys, "the scan finds them"
    table = lang_table(language)
    missing = sorted(k for k in keys if f"audit_detail.{k}" not in table)
    assert missing == [], f"add to static/lang/{language}.json: audit_detail.{missing}"

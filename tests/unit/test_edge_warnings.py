"""Edge warnings: every code the edge can send has an English and a Chinese text in the
console's language files, with the placeholders its params fill; the English is the contract's
template; a warning is built only with exactly its placeholders (literal data, no services)."""

from __future__ import annotations

import re

import pytest

from sitewatch.contract.edge_warnings import WARNING_TEXTS, edge_warning, placeholders
from tests.unit.lang_tables import lang_table, missing_keys


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_code_has_a_text_with_its_placeholders(language: str) -> None:
    missing = missing_keys(language, [f"edge_warning.{c}" for c in WARNING_TEXTS])
    assert missing == [], f"add to static/lang/{language}.json: {missing}"
    table = lang_table(language)
    differ = [
        c
        for c, text in WARNING_TEXTS.items()
        if placeholders(table[f"edge_warning.{c}"]) != placeholders(text)
    ]
    assert differ == [], f"static/lang/{language}.json: placeholders differ from the template"


def test_the_english_texts_are_the_contract_s_and_no_code_is_unknown() -> None:
    en = lang_table("en")
    differ = [c for c, text in WARNING_TEXTS.items() if en[f"edge_warning.{c}"] != text]
    assert differ == [], f"en.json edge_warning.<code> differs from WARNING_TEXTS: {differ}"
    for language in ("en", "zh-CN"):
        stale = [k for k in lang_table(language) if k.startswith("edge_warning.")]
        assert sorted(stale) == sorted(f"edge_warning.{c}" for c in WARNING_TEXTS), language


def test_chinese_texts_keep_no_english_sentence() -> None:
    zh = lang_table("zh-CN")
    for code in WARNING_TEXTS:
        text = re.sub(r"\{\w+\}", "", zh[f"edge_warning.{code}"])
        assert not re.search(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+", text), (code, text)


def test_a_warning_is_its_template_filled() -> None:
    said = edge_warning("tile_look.small_frames", width=640, height=360, input_size=416)
    assert said.params == {"width": "640", "height": "360", "input_size": "416"}
    assert said.text.startswith("tile_look is on, but its detect stream's 640x360 frames")
    with pytest.raises(ValueError, match="input_size"):
        edge_warning("tile_look.small_frames", width=640, height=360)
    with pytest.raises(ValueError, match="takes"):
        edge_warning("tile_look.model", model="m.onnx", extra=1)
    with pytest.raises(KeyError):
        edge_warning("no.such_code")

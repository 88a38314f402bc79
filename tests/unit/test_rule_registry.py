"""The rule registry: every contract RuleName has its Rule, its config section and its facts,
and an unknown name is an error that lists the valid ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import pytest

from sitewatch.contract.messages import Label, RuleName, ZoneKind
from sitewatch.edge.analysis.registry import RULES, rule
from sitewatch.edge.config.rule_specs import RULE_SPECS, UnknownRule, rule_spec
from sitewatch.edge.config.schema import CameraSettings, Rules, armed_rules
from sitewatch.edge.worker import needs_second_look


def test_every_rule_name_has_a_rule_a_config_section_and_facts() -> None:
    names = list(get_args(RuleName))
    assert list(RULES) == names
    assert list(RULE_SPECS) == names
    assert list(Rules.model_fields) == names
    rules = Rules()
    for name in names:
        assert rule(name).name == name
        assert rule(name).spec is RULE_SPECS[name]
        assert rule(name).config(rules) is getattr(rules, name)


def test_facts_use_the_contracts_words() -> None:
    for spec in RULE_SPECS.values():
        assert spec.zone in get_args(ZoneKind)
        assert set(spec.exempt) <= set(get_args(ZoneKind)) - {"mask", spec.zone}
        assert spec.evidence in get_args(Label)


def test_each_rule_reads_its_own_config_section() -> None:
    rules = Rules.model_validate({"no_helmet": {"cooldown_s": 7.0}, "smoking": {"dwell_s": 9.0}})
    assert rule("no_helmet").config(rules).cooldown_s == 7.0
    assert rule("smoking").config(rules).cooldown_s == 60.0
    assert rule("smoking").config(rules).dwell_s == 9.0


@pytest.mark.parametrize("lookup", [rule, rule_spec, Rules().of])
def test_an_unknown_rule_name_lists_the_valid_ones(lookup: Callable[[str], object]) -> None:
    with pytest.raises(UnknownRule, match="unknown rule 'no_vest'; expected one of: ") as caught:
        lookup("no_vest")
    assert caught.value.valid == get_args(RuleName)
    for name in get_args(RuleName):
        assert name in str(caught.value)


def test_armed_rules_are_enabled_and_have_their_zone() -> None:
    def camera(kinds: list[str], rules: dict[str, object]) -> CameraSettings:
        zones = [
            {"id": f"z{i}", "kind": kind, "points": [[0, 0], [1, 0], [1, 1]]}
            for i, kind in enumerate(kinds)
        ]
        url = "rtsp://192.0.2.10/sub"
        fields = {"id": "cam-1", "detect": url, "detect_fps": 2, "zones": zones, "rules": rules}
        return CameraSettings.model_validate(fields)

    both = camera(["helmet_required", "no_smoking"], {})
    assert [s.name for s in armed_rules(both)] == ["no_helmet", "smoking"]
    assert needs_second_look(both)
    no_zone = camera(["helmet_required", "smoking_area"], {})
    assert [s.name for s in armed_rules(no_zone)] == ["no_helmet"]
    assert not needs_second_look(no_zone)
    off = camera(["helmet_required", "no_smoking"], {"smoking": {"enabled": False}})
    assert [s.name for s in armed_rules(off)] == ["no_helmet"]
    assert not needs_second_look(off)

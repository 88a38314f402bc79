"""What the config knows of each rule without running it: the zone kind it fires in, the zone
kinds that exempt part of that zone, and the detector label its ``min_score`` applies to.

One :class:`RuleSpec` per contract ``RuleName`` in :data:`RULE_SPECS`; the rule registry
(``sitewatch.edge.analysis.registry``) builds on it, and the config checks, the console feed
and the worker read it instead of comparing rule names. Imports only the contract: the
schema and its cross-checks import it, never the other way (a camera's armed rules are
``sitewatch.edge.config.schema.armed_rules``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sitewatch.contract.messages import Label, RuleName, ZoneKind


class UnknownRule(ValueError):
    """A rule name that no rule has; ``str()`` lists the valid ones (``valid``)."""

    def __init__(self, name: str, valid: Iterable[str]) -> None:
        self.name, self.valid = name, tuple(valid)
        super().__init__(
            f"unknown rule {name!r}; expected one of: {', '.join(self.valid)} (a new rule "
            "needs a RuleSpec in sitewatch.edge.config.rule_specs and a Rule in "
            "sitewatch.edge.analysis.registry; see the registry's docstring)"
        )


@dataclass(frozen=True)
class RuleSpec:
    """The static facts of one rule (a ``mask`` exempts every rule and is not listed)."""

    name: RuleName
    zone: ZoneKind  # the rule fires only where its anchor lies in a zone of this kind
    exempt: tuple[ZoneKind, ...]  # kinds that carve exceptions out of ``zone``
    evidence: Label  # the detector label whose score the rule's min_score compares against


RULE_SPECS: Mapping[RuleName, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec("no_helmet", "helmet_required", (), "head"),
        RuleSpec("smoking", "no_smoking", ("smoking_area",), "cigarette"),
        RuleSpec("restricted_zone", "restricted", (), "person"),
    )
}
"""Every rule's facts, keyed by its contract name (the registry's rules, in their order)."""


def rule_spec(name: str) -> RuleSpec:
    """The facts of rule ``name``; an unknown name is an :class:`UnknownRule`."""
    for key, spec in RULE_SPECS.items():
        if key == name:
            return spec
    raise UnknownRule(name, RULE_SPECS)

"""The words edge and console share, each defined once, as tuples to iterate over.

The ``Literal`` types in :mod:`sitewatch.contract.messages` are the definitions; these tuples
are read from them (same values, same order), so a word added there appears here, in the
console's generated ``enums.js`` (``python -m sitewatch.console.enums_js``) and in every list
built from them. ``ID_PATTERN`` is the one pattern of site, camera, zone and alert ids.
"""

from __future__ import annotations

import re
from typing import Final, get_args

from sitewatch.contract.messages import ID_PATTERN, EvidenceKind, Label, RuleName, ZoneKind

__all__ = ["EVIDENCE_KINDS", "ID_PATTERN", "ID_RE", "LABELS", "RULE_NAMES", "ZONE_KINDS"]

RULE_NAMES: Final[tuple[RuleName, ...]] = get_args(RuleName)
ZONE_KINDS: Final[tuple[ZoneKind, ...]] = get_args(ZoneKind)
LABELS: Final[tuple[Label, ...]] = get_args(Label)
EVIDENCE_KINDS: Final[tuple[EvidenceKind, ...]] = get_args(EvidenceKind)
ID_RE: Final = re.compile(ID_PATTERN)
"""``ID_PATTERN`` compiled. Test ids with ``ID_RE.fullmatch``: Python's ``$`` also matches
before a final newline, so ``match`` would take ``"s1\\n"`` for an id."""

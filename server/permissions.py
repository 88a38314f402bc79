"""Who may do what: one table of capabilities per role, and site scoping.

Every user is scoped to a list of site ids (``["*"]`` = every site, admins only by default).
A capability is checked by :func:`server.deps.require`; a site by :func:`can_see_site`.
"""

from __future__ import annotations

from typing import Literal

Capability = Literal[
    "alerts.read",  # list and open alerts of one's sites
    "alerts.workflow",  # acknowledge, assign, resolve, false positive, notes
    "evidence.read",  # view snapshots and clips
    "evidence.export",  # download the evidence package (zip with manifest)
    "cameras.read",  # cameras, their state and snapshots
    "config.write",  # zones and thresholds sent to the edge
    "stats.read",  # statistics
    "audit.read",  # the chain-of-custody log
    "users.manage",  # create, change and disable users
]

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": frozenset(
        {
            "alerts.read",
            "alerts.workflow",
            "evidence.read",
            "evidence.export",
            "cameras.read",
            "config.write",
            "stats.read",
            "audit.read",
            "users.manage",
        }
    ),
    # site safety manager: acts on alerts
    "manager": frozenset(
        {
            "alerts.read",
            "alerts.workflow",
            "evidence.read",
            "evidence.export",
            "cameras.read",
            "stats.read",
        }
    ),
    # police: reads alerts and evidence, exports packages, changes nothing
    "police": frozenset(
        {"alerts.read", "evidence.read", "evidence.export", "stats.read", "audit.read"}
    ),
    # operator: cameras, zones, thresholds; reads alerts to tune against false positives
    "operator": frozenset({"alerts.read", "evidence.read", "cameras.read", "config.write"}),
}


def allowed(role: str, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role, frozenset())


def can_see_site(sites: list[str], site_id: str) -> bool:
    return "*" in sites or site_id in sites

"""Who may do what: one table of capabilities per role, and site and camera scoping.

Every user is scoped to a list of site ids (``["*"]`` = every site, admins only by default)
and, optionally, to cameras: ``"site_id/camera_id"`` entries (None = every camera of the
user's sites). A user limited to cameras sees only those cameras and their sites.
A capability is checked by :func:`sitewatch.console.api.deps.require`; a site by
:func:`can_see_site`, a camera by :func:`can_see_camera`; SQL queries are limited by
:mod:`sitewatch.console.domain.queries`. Which users an admin may manage and what it may grant:
:func:`grant_problem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Capability = Literal[
    "alerts.read",  # list and open alerts of one's sites
    "alerts.workflow",  # acknowledge, assign, resolve, false positive, notes
    "evidence.read",  # view snapshots and clips
    "evidence.export",  # download the evidence package (zip with manifest)
    "cameras.read",  # cameras, their state and snapshots
    "video.view",  # live view and playback of the cameras in one's scope
    "config.write",  # zones and thresholds sent to the edge
    "stats.read",  # statistics
    "reports.read",  # daily and weekly reports (xlsx, PDF)
    "audit.read",  # the chain-of-custody log
    "users.manage",  # create, change and disable users
]

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": frozenset(
        {
            "alerts.read",
            "video.view",
            "alerts.workflow",
            "evidence.read",
            "evidence.export",
            "cameras.read",
            "config.write",
            "stats.read",
            "reports.read",
            "audit.read",
            "users.manage",
        }
    ),
    # site safety manager: acts on alerts
    "manager": frozenset(
        {
            "alerts.read",
            "video.view",
            "alerts.workflow",
            "evidence.read",
            "evidence.export",
            "cameras.read",
            "stats.read",
            "reports.read",
        }
    ),
    # police: reads alerts and evidence, exports packages, changes nothing
    "police": frozenset(
        {
            "alerts.read",
            "evidence.read",
            "evidence.export",
            "stats.read",
            "audit.read",
            "video.view",
        }
    ),
    # operator: cameras, zones, thresholds; reads alerts to tune against false positives
    "operator": frozenset(
        {"alerts.read", "evidence.read", "cameras.read", "config.write", "video.view"}
    ),
}


def allowed(role: str, capability: Capability) -> bool:
    return capability in ROLE_CAPABILITIES.get(role, frozenset())


class Scoped(Protocol):
    """A user, as far as scoping goes."""

    @property
    def sites(self) -> list[str]: ...
    @property
    def cameras(self) -> list[str] | None: ...


@dataclass(frozen=True)
class Scope:
    """What a user sees: ``sites`` None = every site; ``cameras`` None = every camera of
    those sites, else ``{site_id: {camera_id, ...}}`` (and only those sites)."""

    sites: frozenset[str] | None
    cameras: dict[str, frozenset[str]] | None

    @classmethod
    def of(cls, user: Scoped) -> Scope:
        sites = None if "*" in user.sites else frozenset(user.sites)
        if user.cameras is None:
            return cls(sites, None)
        per_site: dict[str, set[str]] = {}
        for site_id, camera_id in (split_camera(c) for c in user.cameras):
            if sites is None or site_id in sites:  # an entry outside the sites gives nothing
                per_site.setdefault(site_id, set()).add(camera_id)
        return cls(sites, {k: frozenset(v) for k, v in per_site.items()})

    def site(self, site_id: str) -> bool:
        if self.cameras is not None:
            return site_id in self.cameras
        return self.sites is None or site_id in self.sites

    def camera(self, site_id: str, camera_id: str) -> bool:
        if self.cameras is not None:
            return camera_id in self.cameras.get(site_id, ())
        return self.site(site_id)

    @property
    def every_site(self) -> bool:
        return self.sites is None and self.cameras is None


def can_see_site(user: Scoped, site_id: str) -> bool:
    return Scope.of(user).site(site_id)


def can_see_camera(user: Scoped, site_id: str, camera_id: str) -> bool:
    return Scope.of(user).camera(site_id, camera_id)


def split_camera(entry: str) -> tuple[str, str]:
    """``"site_id/camera_id"`` → ``(site_id, camera_id)``; ValueError if it is not one."""
    site_id, sep, camera_id = entry.partition("/")
    if not sep or not site_id or not camera_id or "/" in camera_id or "*" in entry:
        raise ValueError(
            f"camera scope entries are 'site_id/camera_id' (e.g. north/gate), got {entry!r}"
        )
    return site_id, camera_id


def camera_scope_problem(sites: Sequence[str], cameras: Sequence[str] | None) -> str | None:
    """Why ``cameras`` is not a valid camera scope for a user of ``sites``; None if it is."""
    if cameras is None:
        return None
    if not cameras:
        return (
            "a camera scope needs at least one 'site_id/camera_id' entry; leave it empty "
            "(null) for every camera of the user's sites"
        )
    for entry in cameras:
        try:
            site_id, _ = split_camera(entry)
        except ValueError as exc:
            return str(exc)
        if "*" not in sites and site_id not in sites:
            return (
                f"camera {entry!r} is at site {site_id!r}, which is not among the user's "
                f"sites {list(sites)}: add the site or remove the camera"
            )
    if len(set(cameras)) != len(cameras):
        return f"camera scope lists a camera twice: {list(cameras)}"
    return None


def grant_problem(admin: Scoped, sites: Sequence[str], cameras: Sequence[str] | None) -> str | None:
    """Why ``admin`` may not manage (or make) a user of ``sites`` / ``cameras``; None if it may.

    An admin of every site (``["*"]``, no camera limit) manages everyone. Any other admin
    manages only users whose every site is one of its own and, when it is itself limited to
    cameras, whose cameras are all among its own: it never grants a site, a camera or a scope
    ("*", or every camera of a site) it does not have itself.
    """
    mine = Scope.of(admin)
    if mine.every_site:
        return None
    yours = f"your sites {list(admin.sites)}" + (
        f" and cameras {list(admin.cameras)}" if admin.cameras is not None else ""
    )
    if "*" in sites:
        return (
            f"'*' (every site) is more than {yours}: only an admin of every site may manage "
            "or grant it"
        )
    outside = [site for site in sites if not mine.site(site)]
    if outside:
        return (
            f"sites {outside} are not among {yours}: you may manage and grant only users "
            "within them"
        )
    if mine.cameras is None:
        return None
    if cameras is None:
        return (
            f"every camera of {list(sites)} is more than {yours}: give the user a camera "
            "scope within yours"
        )
    try:
        beyond = [c for c in cameras if not mine.camera(*split_camera(c))]
    except ValueError as exc:
        return str(exc)
    if beyond:
        return (
            f"cameras {beyond} are not among {yours}: you may manage and grant only cameras "
            "you have"
        )
    return None

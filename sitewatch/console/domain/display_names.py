"""Display names the console owns: a site's name (any script, zh-CN included), shown instead
of its id. Cameras and zones carry theirs in the edge's config (camera and zone commands).

A rename is audited with the old and the new name; an empty name means "show the id".
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from sitewatch.console.domain import audit
from sitewatch.console.domain.errors import NotFound
from sitewatch.console.store.models import Site, User


def rename_site(s: Session, user: User, site_id: str, name: str, client: str | None) -> Site:
    """Set the site's display name (stripped); :class:`NotFound` before its edge has reported."""
    site = s.get(Site, site_id)
    if site is None:
        raise NotFound(
            f"no site {site_id!r} yet: a site appears once its edge reports; name it then",
            code="config.no_site",
            params={"site": site_id},
        )
    new = name.strip()
    if new != site.name:
        audit.record(
            s, user, "site_rename", "site", site_id, site_id=site_id, client=client,
            detail=f"display name {site.name!r} -> {new!r}",
            key="site_rename", params={"old": site.name or site_id, "new": new},
        )  # fmt: skip
        site.name = new
    s.flush()
    return site

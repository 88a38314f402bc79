"""Who may speak for a site: every message about a site whose edge is registered must carry
that edge's signature (sitewatch/contract/signing.py); the key is the one ``sitewatch server
add-edge`` stored, never one that came in a message.

A site with no registered edge (a console set up before identities, or a test) is open: its
messages are accepted unsigned, as before, and what they list is kept as unverified (a
verified listing of the same file later replaces it). Registering the site's edge closes it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.console.ingest.context import Context, IngestError
from sitewatch.console.store.models import BrokerAccount
from sitewatch.contract import messages as m
from sitewatch.contract.signing import fingerprint, parse_public_key, verify


def edge_key(s: Session, site_id: str) -> str | None:
    """The registered public key (base64) of ``site_id``'s edge; None while the site is open."""
    return s.scalar(
        select(BrokerAccount.public_key).where(
            BrokerAccount.site_id == site_id, BrokerAccount.role == "edge"
        )
    )


def check_sender(s: Session, ctx: Context, msg: m.Message) -> None:
    """Refuse (IngestError) a message about a registered site that its edge did not sign;
    ``ctx.signed_by`` is the key it verified with (False: an open site's, accepted unsigned)."""
    site_id = getattr(msg, "site_id", ctx.route.site_id)
    ctx.same_site(site_id)
    key = edge_key(s, site_id)
    if key is None:
        return
    if verify(msg, parse_public_key(key)):
        ctx.signed_by = key
        return
    what = "unsigned" if msg.signature is None else "signed with another key"
    raise IngestError(
        f"expected {msg.SCHEMA} signed by the registered edge of site {site_id!r} (key "
        f"{fingerprint(key)}), got it {what}: refused; if the edge was set up again, register "
        f"its new key with 'sitewatch server add-edge {site_id}'"
    )

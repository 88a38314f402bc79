"""Who may speak for a site: every message about a site whose edge is registered must carry
that edge's signature (sitewatch/contract/signing.py); the key is the one ``sitewatch server
add-edge`` stored, never one that came in a message.

A site with no registered edge (a console set up before identities, or a test) is open: its
messages are accepted unsigned, as before, and what they list is kept as unverified (a
verified listing of the same file later replaces it). Registering the site's edge closes it.

The key is read once per session (``Session.info``): the ingest worker's session is one batch's
transaction, so a key replaced or removed (``add-edge --rotate``) counts from the next batch on.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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


_KEYS = "sitewatch.ingest.edge_keys"
"""``Session.info`` key: site id -> (key text, parsed key), or None for an open site."""


def session_edge_key(s: Session, site_id: str) -> tuple[str, Ed25519PublicKey] | None:
    """:func:`edge_key` and its parsed key, read once per session ``s`` (a batch's transaction):
    what a verified message's ``signed_by`` is and what it verifies against."""
    keys: dict[str, tuple[str, Ed25519PublicKey] | None] = s.info.setdefault(_KEYS, {})
    if site_id not in keys:
        text = edge_key(s, site_id)
        keys[site_id] = None if text is None else (text, parse_public_key(text))
    return keys[site_id]


def check_sender(s: Session, ctx: Context, msg: m.Message) -> None:
    """Refuse (IngestError) a message about a registered site that its edge did not sign;
    ``ctx.signed_by`` is the key it verified with (False: an open site's, accepted unsigned)."""
    site_id = getattr(msg, "site_id", ctx.route.site_id)
    ctx.same_site(site_id)
    known = session_edge_key(s, site_id)
    if known is None:
        return
    key, public = known
    if verify(msg, public):
        ctx.signed_by = key
        return
    what = "unsigned" if msg.signature is None else "signed with another key"
    raise IngestError(
        f"expected {msg.SCHEMA} signed by the registered edge of site {site_id!r} (key "
        f"{fingerprint(key)}), got it {what}: refused; if the edge was set up again, register "
        f"its new key with 'sitewatch server add-edge {site_id}'"
    )

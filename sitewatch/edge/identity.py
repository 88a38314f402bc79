"""The edge's identity: its Ed25519 signing key, made on first start.

Everything the edge publishes is signed with this key (``sitewatch.contract.signing.Signer``); the
console takes a registered site's messages only with its signature. The private key stays in
``trust.key_file`` (PEM, mode 0600); its public key is logged at every start so that the
operator can register it at the console.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitewatch.contract.signing import (
    SigningKeyError,
    fingerprint,
    load_or_create_key,
    public_key_text,
)
from sitewatch.edge.config.errors import ConfigError, ConfigProblem
from sitewatch.edge.config.schema import SiteConfig

log = logging.getLogger(__name__)


def edge_key(config_path: Path, config: SiteConfig) -> Ed25519PrivateKey:
    """The key in ``trust.key_file`` (a new one when absent), its public key logged once.

    A file that is not such a key is a :class:`ConfigError` on ``trust.key_file`` (the worker
    refuses to start, as for any config problem); a folder it cannot write raises ``OSError``.
    """
    path = config.trust.key_file
    made = not path.exists()
    try:
        key = load_or_create_key(path)
    except SigningKeyError as exc:
        hint = "Move the file away (a new key is made) and register the new key at the console."
        problem = ConfigProblem(
            str(config_path), None, "trust.key_file", "the edge's Ed25519 key", str(exc), hint
        )
        raise ConfigError([problem]) from None
    log.info(
        "edge key %s%s: public key %s (fingerprint %s); the console takes this site's "
        "messages only with it once it is registered there",
        path,
        " (new)" if made else "",
        public_key_text(key),
        fingerprint(key),
    )
    return key

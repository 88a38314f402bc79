"""SiteWatch: construction-site video analytics, one package with four wings on a core.

``core`` (pure geometry and array types; imports nothing of SiteWatch), ``contract`` (the
MQTT messages; imports no other wing), ``edge`` (cameras in, alerts out;
imports ``contract``), ``console`` (the alert console; imports ``contract``), ``tools``
(offline detect, eval, dataset helpers; imports ``edge`` and ``contract``; the runtime never
imports it). ``cli`` is the one command and imports each wing lazily.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sitewatch")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.1.0"

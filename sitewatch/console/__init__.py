"""SiteWatch alert console (FastAPI), by layer: ``api/`` and ``ingest/`` above ``domain/`` above
``store/``; the root holds the app (``app.py``, ``cli.py``, ``state.py``) and the words every
layer shares (settings, workflow, permissions, events, schemas, ids).

May import: sitewatch.contract, sitewatch.core, sitewatch.mqtt (never sitewatch.edge,
sitewatch.tools); the layers' own rules are in pyproject.toml ``[tool.importlinter]``.
"""

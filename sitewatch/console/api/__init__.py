"""The HTTP API: FastAPI dependencies, security headers and the routes (thin: they call
domain).

May import: domain, store, the console's root modules, sitewatch.contract; never ingest
(app.py wires it).
"""

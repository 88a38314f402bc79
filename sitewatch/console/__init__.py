"""SiteWatch alert console (FastAPI).

May import: sitewatch.contract (never sitewatch.edge, sitewatch.tools).
"""

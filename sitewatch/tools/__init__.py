"""SiteWatch offline tools: detect, eval, dataset and media helpers.

May import: sitewatch.edge, sitewatch.contract (the runtime never imports the tools).
"""

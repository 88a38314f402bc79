"""SiteWatch offline tools: detect, eval, dataset and media helpers."""

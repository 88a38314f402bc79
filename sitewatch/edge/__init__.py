"""SiteWatch edge: cameras in, detections, rules and alerts out.

May import: sitewatch.contract (never sitewatch.console, sitewatch.tools).
"""
